//! The audit trail: append-only rows, each chained to the one before by a SHA-256 hash, so a
//! row removed or altered behind vigie's back is detected by [`verify_store`] (`vigie audit verify`).
//!
//! Row `n` stores `prev_hash` (row `n-1`'s hash, 64 zeros for the first) and
//! `hash = SHA-256(prev_hash "\n" canonical JSON of its content)`. The store keeps the last
//! seq and hash in a head row updated in the same transaction, so removing the newest rows is
//! detected too. Nothing secret is ever written: actions, targets, outcomes, digests.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether an audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused (bad credential, missing role, throttled, CSRF...).
    Refused,
    /// Tried and failed (invalid input, conflict).
    Failed,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Outcome::Ok, Outcome::Refused, Outcome::Failed].into_iter().find(|o| o.as_str() == s)
    }
}

/// An audit row to append (seq and hashes are assigned by the store).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditDraft {
    /// When, epoch milliseconds.
    pub at: i64,
    /// Workspace, when the action is in one.
    pub workspace: Option<String>,
    /// Who (account name, `token:NAME#ID`, `anonymous:…`, or the name tried at a failed sign-in).
    pub actor: String,
    /// What: `entry.create`, `session.create`, `token.revoke`, `request.refused`…
    pub action: String,
    /// On what: `entry/42`, `token/3`, `GET /api/audit`…
    pub target: String,
    /// Result.
    pub outcome: Outcome,
    /// Client address.
    pub client: Option<String>,
    /// Details (JSON object): reason, status, before/after digests.
    pub detail: serde_json::Value,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Position in the chain, from 1, gap-free.
    pub seq: i64,
    /// When, epoch milliseconds.
    pub at: i64,
    /// Workspace.
    pub workspace: Option<String>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Result (`ok`, `refused`, `failed`).
    pub outcome: String,
    /// Client address.
    pub client: Option<String>,
    /// Details, the JSON text as stored.
    pub detail: String,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: i64,
    workspace: Option<&'a str>,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    client: Option<&'a str>,
    detail: &'a str,
}

/// The hash of a row with these contents after `prev_hash`.
#[expect(clippy::too_many_arguments, reason = "the row's columns, in their order")]
pub fn row_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    workspace: Option<&str>,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    client: Option<&str>,
    detail: &str,
) -> String {
    let canonical = Canonical { seq, at, workspace, actor, action, target, outcome, client, detail };
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(&canonical).unwrap_or_default());
    super::secret::hex(&h.finalize())
}

impl AuditRow {
    /// The row `draft` becomes at `seq` after `prev_hash`.
    pub fn chain(draft: &AuditDraft, seq: i64, prev_hash: &str) -> Self {
        let detail = draft.detail.to_string();
        let hash = row_hash(
            prev_hash,
            seq,
            draft.at,
            draft.workspace.as_deref(),
            &draft.actor,
            &draft.action,
            &draft.target,
            draft.outcome.as_str(),
            draft.client.as_deref(),
            &detail,
        );
        Self {
            seq,
            at: draft.at,
            workspace: draft.workspace.clone(),
            actor: draft.actor.clone(),
            action: draft.action.clone(),
            target: draft.target.clone(),
            outcome: draft.outcome.as_str().to_owned(),
            client: draft.client.clone(),
            detail,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    /// The hash this row's contents give (equal to `hash` unless it was altered).
    pub fn recomputed_hash(&self) -> String {
        row_hash(
            &self.prev_hash,
            self.seq,
            self.at,
            self.workspace.as_deref(),
            &self.actor,
            &self.action,
            &self.target,
            &self.outcome,
            self.client.as_deref(),
            &self.detail,
        )
    }
}

/// A SHA-256 digest of a JSON document (an entry, a token's public fields…) for the
/// before/after fields of a change: proves what changed without copying it into the trail.
pub fn digest(value: &serde_json::Value) -> String {
    super::secret::hex(&Sha256::digest(value.to_string().as_bytes()))
}

/// Filters of `GET /api/audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Workspace (always set by the API: an admin reads their workspace's rows).
    pub workspace: Option<String>,
    /// Actor, exact.
    pub actor: Option<String>,
    /// Action, exact or a prefix ending in `.` (`entry.`).
    pub action: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// From, epoch ms inclusive.
    pub since_ms: Option<i64>,
    /// To, epoch ms exclusive.
    pub until_ms: Option<i64>,
    /// Rows with seq greater than this (paging).
    pub after_seq: i64,
    /// Most rows.
    pub limit: usize,
}

/// The first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The seq where the chain breaks.
    pub seq: i64,
    /// What is wrong there.
    pub reason: String,
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Rows checked.
    pub rows: u64,
    /// The last seq and hash (record them elsewhere: a later check proves nothing before them
    /// was rewritten).
    pub head_seq: i64,
    /// Hash of the last row.
    pub head_hash: String,
    /// The first broken link, if any.
    pub broken: Option<Break>,
}

/// Walks a chain page by page, checking each link.
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    rows: u64,
    broken: Option<Break>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self { expected_seq: 1, prev_hash: GENESIS.to_owned(), rows: 0, broken: None }
    }
}

impl Verifier {
    /// The seq after which the next page starts.
    pub fn last_seq(&self) -> i64 {
        self.expected_seq - 1
    }

    /// Whether a break was found (no need to read further).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Checks the next rows, in seq order.
    pub fn feed(&mut self, rows: &[AuditRow]) {
        for r in rows {
            if self.broken.is_some() {
                return;
            }
            self.rows += 1;
            let reason = if r.seq != self.expected_seq {
                Some(format!(
                    "row {} is missing (the next row present is {}): rows were deleted",
                    self.expected_seq, r.seq
                ))
            } else if r.prev_hash != self.prev_hash {
                Some(format!(
                    "row {} does not link to row {}: a row before it was altered or replaced",
                    r.seq,
                    r.seq - 1
                ))
            } else if r.recomputed_hash() != r.hash {
                Some(format!("row {}'s content does not match its hash: it was altered", r.seq))
            } else {
                None
            };
            if let Some(reason) = reason {
                self.broken = Some(Break { seq: self.expected_seq.min(r.seq), reason });
                return;
            }
            self.expected_seq = r.seq + 1;
            self.prev_hash.clone_from(&r.hash);
        }
    }

    /// The verdict, given the store's head (last seq and hash it committed).
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Verification {
        let last = self.expected_seq - 1;
        let broken = self.broken.or_else(|| {
            if head_seq != last {
                Some(Break {
                    seq: last + 1,
                    reason: format!(
                        "the trail ends at row {last} but {head_seq} rows were written: the newest rows were deleted"
                    ),
                })
            } else if head_hash != self.prev_hash {
                Some(Break {
                    seq: last,
                    reason: format!("row {last} is not the row that was written last: it was replaced"),
                })
            } else {
                None
            }
        });
        Verification { rows: self.rows, head_seq, head_hash: head_hash.to_owned(), broken }
    }
}

/// Checks the whole chain stored in `store`, page by page.
///
/// # Errors
/// The store's.
pub async fn verify_store(store: &dyn super::store::IdentityStore) -> Result<Verification, crate::store::StoreError> {
    // The head first: rows appended while the check runs come after it and are not checked.
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut v = Verifier::default();
    loop {
        let filter = AuditFilter { after_seq: v.last_seq(), limit: 5000, ..AuditFilter::default() };
        let mut rows = store.audit(&filter).await?;
        rows.retain(|r| r.seq <= head_seq);
        if rows.is_empty() {
            break;
        }
        v.feed(&rows);
        if v.is_broken() {
            break;
        }
    }
    Ok(v.finish(head_seq, &head_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let d = AuditDraft {
                    at: seq * 1000,
                    workspace: Some("default".into()),
                    actor: "alice".into(),
                    action: "entry.create".into(),
                    target: format!("entry/{seq}"),
                    outcome: Outcome::Ok,
                    client: Some("127.0.0.1".into()),
                    detail: serde_json::json!({"after": "ab"}),
                };
                let r = AuditRow::chain(&d, seq, &prev);
                prev.clone_from(&r.hash);
                r
            })
            .collect()
    }

    fn check(rows: &[AuditRow], head_seq: i64, head_hash: &str) -> Verification {
        let mut v = Verifier::default();
        for page in rows.chunks(3) {
            v.feed(page);
        }
        v.finish(head_seq, head_hash)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let rows = chain(10);
        let v = check(&rows, 10, &rows[9].hash);
        assert_eq!(v.broken, None);
        assert_eq!(v.rows, 10);
        assert_eq!(check(&[], 0, GENESIS).broken, None);
    }

    #[test]
    fn every_tampering_names_the_first_broken_row() {
        let rows = chain(10);
        let head = rows[9].hash.clone();
        let mut deleted = rows.clone();
        deleted.remove(4);
        assert_eq!(check(&deleted, 10, &head).broken.unwrap().seq, 5);
        let mut altered = rows.clone();
        altered[6].target = "entry/999".into();
        assert_eq!(check(&altered, 10, &head).broken.unwrap().seq, 7);
        let mut rehashed = rows.clone();
        rehashed[2].actor = "mallory".into();
        rehashed[2].hash = rehashed[2].recomputed_hash();
        let b = check(&rehashed, 10, &head).broken.unwrap();
        assert_eq!(b.seq, 4, "a re-hashed row breaks the next link: {}", b.reason);
        let truncated = &rows[..8];
        assert_eq!(check(truncated, 10, &head).broken.unwrap().seq, 9);
        let mut last_rehashed = rows.clone();
        last_rehashed[9].outcome = "refused".into();
        last_rehashed[9].hash = last_rehashed[9].recomputed_hash();
        assert_eq!(check(&last_rehashed, 10, &head).broken.unwrap().seq, 10);
    }
}
