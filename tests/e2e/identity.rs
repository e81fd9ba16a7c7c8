//! Identity end to end: the identity tables on both stores, the role matrix over every route
//! (generated from `http::access::RULES`), every bad credential refused, sessions with CSRF,
//! the audit trail (its API, and `vigie audit verify` against rows deleted and altered behind
//! vigie's back), and GDAL reading tiles and OGC API Features with an API token.

use crate::support::{Answer, PostgisDb, Server, TEST_ENTRIES, demo_config, require_tool, vigie_bin};
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use tower::ServiceExt;
use vigie_tileserver::http::access::{Need, RULES};
use vigie_tileserver::http::{Shared, app};
use vigie_tileserver::identity::audit::{AuditDraft, AuditFilter, Outcome, verify_store};
use vigie_tileserver::identity::store::{IdentityStore, IdentityStoreError, NewAccount, SessionRecord, TokenInsert};
use vigie_tileserver::identity::{Access, NewToken, Role};
use vigie_tileserver::store::Synchronous;
use vigie_tileserver::store::postgres::{PgSettings, PgStore};
use vigie_tileserver::store::sqlite::SqliteStore;

const PASSWORD: &str = "correct horse battery staple";

async fn identity_suite(ids: Arc<dyn IdentityStore>, backend: &str) {
    let new = NewAccount { name: "alice", display_name: "Alice", password_hash: Some("$argon2id$x"), oidc: None };
    let alice = ids.create_account(&new, 1).await.unwrap();
    assert!(
        matches!(
            ids.create_account(&NewAccount { display_name: "Other", ..new }, 2).await,
            Err(IdentityStoreError::Exists(_))
        ),
        "{backend}: names are unique"
    );
    let sso =
        NewAccount { name: "oscar", display_name: "Oscar", password_hash: None, oidc: Some(("https://idp", "u-1")) };
    let oscar = ids.create_account(&sso, 2).await.unwrap();
    assert_eq!(ids.account_by_oidc("https://idp", "u-1").await.unwrap().unwrap().id, oscar);
    assert!(ids.account_by_oidc("https://other-idp", "u-1").await.unwrap().is_none(), "{backend}: per issuer");
    assert!(
        matches!(
            ids.create_account(&NewAccount { name: "oscar2", ..sso }, 2).await,
            Err(IdentityStoreError::Exists(_))
        ),
        "{backend}: one account per OpenID identity"
    );
    assert_eq!(ids.account_by_name("alice").await.unwrap().unwrap().id, alice);
    assert!(ids.account_by_name("bob").await.unwrap().is_none());
    assert_eq!(ids.membership("suite", alice).await.unwrap(), None);
    ids.set_membership("suite", alice, Some(Role::Analyst), 3).await.unwrap();
    ids.set_membership("suite", alice, Some(Role::Admin), 4).await.unwrap();
    assert_eq!(ids.membership("suite", alice).await.unwrap(), Some(Role::Admin), "{backend}: upsert");
    assert_eq!(ids.members("suite").await.unwrap()[0].role, Role::Admin);
    assert_eq!(ids.members("suite").await.unwrap().len(), 1, "{backend}: oscar is no member");

    let t = TokenInsert {
        workspace: "suite",
        account: alice,
        name: "qgis",
        role: Role::Reader,
        secret_sha256: "aa",
        prefix: "vgt_abc",
        created_at: 5,
        expires_at: Some(1_000),
        territory: Some(r#"[{"bbox":[2,48,3,49]}]"#),
    };
    let tid = ids.create_token(&t).await.unwrap();
    let rec = ids.token_by_secret("aa").await.unwrap().unwrap();
    assert_eq!(
        (rec.id, rec.role, rec.account_name.as_str(), rec.expires_at, rec.territory.as_deref()),
        (tid, Role::Reader, "alice", Some(1_000), t.territory)
    );
    // A workspace's territory comes with each membership of it.
    assert_eq!(ids.member("suite", alice).await.unwrap().unwrap().workspace_territory, None);
    let area = r#"[{"area":"departements:93"}]"#;
    assert!(ids.set_workspace_territory("suite", Some(area)).await.unwrap());
    assert!(!ids.set_workspace_territory("nowhere", Some(area)).await.unwrap(), "{backend}: no such workspace");
    assert_eq!(ids.workspace_territory("suite").await.unwrap().as_deref(), Some(area));
    assert_eq!(ids.member("suite", alice).await.unwrap().unwrap().workspace_territory.as_deref(), Some(area));
    assert!(ids.set_workspace_territory("suite", None).await.unwrap());
    assert_eq!(ids.workspace_territory("suite").await.unwrap(), None);
    assert!(ids.mark_token_used(tid, 6).await.unwrap(), "{backend}: first use");
    assert!(!ids.mark_token_used(tid, 7).await.unwrap(), "{backend}: second use is not the first");
    assert!(!ids.revoke_token("other", tid, 8).await.unwrap(), "{backend}: another workspace's token");
    assert!(ids.revoke_token("suite", tid, 8).await.unwrap());
    assert!(!ids.revoke_token("suite", tid, 9).await.unwrap(), "{backend}: already revoked");
    assert_eq!(ids.tokens("suite").await.unwrap()[0].revoked_at, Some(8));

    let s = SessionRecord {
        secret_sha256: "ss".into(),
        account: alice,
        csrf: "c".into(),
        created_at: 10,
        expires_at: 20,
        revoked_at: None,
        client: Some("127.0.0.1".into()),
    };
    ids.create_session(&s).await.unwrap();
    assert_eq!(ids.session("ss").await.unwrap().unwrap(), s);
    let old = SessionRecord { secret_sha256: "old".into(), expires_at: 5, ..s.clone() };
    ids.create_session(&old).await.unwrap();
    assert_eq!(ids.purge_sessions(10).await.unwrap(), 1, "{backend}: only the session ended before 10");
    assert!(ids.session("old").await.unwrap().is_none());
    // A new password signs every session out; disabling revokes the tokens too.
    assert!(ids.set_password(alice, "$argon2id$y", 11).await.unwrap());
    assert_eq!(ids.session("ss").await.unwrap().unwrap().revoked_at, Some(11), "{backend}");
    let t2 = ids.create_token(&TokenInsert { secret_sha256: "bb", ..t.clone() }).await.unwrap();
    assert!(ids.set_disabled(alice, Some(12)).await.unwrap());
    assert_eq!(ids.token_by_secret("bb").await.unwrap().unwrap().revoked_at, Some(12), "{backend}: token {t2}");
    // Removing a membership revokes the tokens its account made there.
    ids.set_disabled(alice, None).await.unwrap();
    ids.create_token(&TokenInsert { secret_sha256: "cc", ..t.clone() }).await.unwrap();
    ids.set_membership("suite", alice, None, 13).await.unwrap();
    assert_eq!(ids.token_by_secret("cc").await.unwrap().unwrap().revoked_at, Some(13), "{backend}");

    // Concurrent appends form one chain (the head row orders them across writers).
    let draft = |i: i64| AuditDraft {
        at: i,
        workspace: Some("suite".into()),
        actor: format!("actor{}", i % 3),
        action: if i % 2 == 0 { "entry.create".into() } else { "request.refused".into() },
        target: format!("entry/{i}"),
        outcome: if i % 2 == 0 { Outcome::Ok } else { Outcome::Refused },
        client: None,
        detail: json!({"i": i}),
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let ids = ids.clone();
            tokio::spawn(async move {
                for k in 0..10 {
                    let i = w * 10 + k;
                    ids.append_audit(&[draft(i), draft(i + 100)]).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let v = verify_store(ids.as_ref()).await.unwrap();
    assert_eq!((v.rows, v.head_seq, v.broken.clone()), (80, 80, None), "{backend}: {v:?}");
    let f = |action: &str| AuditFilter { action: Some(action.into()), limit: 1000, ..AuditFilter::default() };
    assert_eq!(ids.audit(&f("entry.create")).await.unwrap().len(), 40, "{backend}");
    assert_eq!(ids.audit(&f("entry.")).await.unwrap().len(), 40, "{backend}: prefix");
    assert_eq!(ids.audit(&f("request.")).await.unwrap().len(), 40, "{backend}");
    let page = ids.audit(&AuditFilter { after_seq: 70, limit: 5, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [71, 72, 73, 74, 75]);
}

#[tokio::test]
async fn identity_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), "suite", Synchronous::Normal).await.unwrap();
    identity_suite(vigie_tileserver::store::Store::identity(&store), "sqlite").await;
}

#[tokio::test]
async fn identity_tables_on_postgis() {
    let db = PostgisDb::create().await;
    let settings = PgSettings { url: db.url.clone(), pool_size: 8, statement_timeout_ms: 10_000, commits_in_flight: 1 };
    let store = PgStore::open(&settings, "suite").await.unwrap();
    identity_suite(vigie_tileserver::store::Store::identity(&store), "postgres").await;
    drop(store);
    db.drop_db().await;
}

/// A demo state where requests without credentials are refused, with one account and one API
/// token per role (`tokens[role]`).
async fn secured_state() -> (Arc<Shared>, tempfile::TempDir, BTreeMap<Role, String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path(), 300);
    config.anonymous_role = None;
    config.anonymous_names_itself = false;
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let mut tokens = BTreeMap::new();
    for role in Role::ALL {
        let name = format!("u-{role}");
        state.identities.add_account("test", &name, PASSWORD, "default", role).await.unwrap();
        let access: Access = state.identities.account_access("default", &name).await.unwrap();
        let (token, _) = state
            .identities
            .create_token(&access, NewToken { name: format!("t-{role}"), role, expires_at: None, territory: None })
            .await
            .unwrap();
        tokens.insert(role, token);
    }
    (state, dir, tokens)
}

async fn send(state: &Arc<Shared>, method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut req = Request::builder().method(method).uri(uri).header("host", "vigie.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(state.clone()).oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    // The live event stream never ends: its status and headers are the answer.
    let streaming = headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body =
        if streaming { Vec::new() } else { axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec() };
    Answer { status, headers, body }
}

fn sample(path: &str) -> String {
    path.replace("{layers}", "venues")
        .replace("{z}/{x}/{y}", "12/2074/1409")
        .replace("{file}", "hypervision.json")
        .replace("{sha256}", &"0".repeat(64))
        .replace("{*path}", "js/main.js")
        .replace("{fid}", "1")
        .replace("{name}", "nobody")
        .replace("{id}", "999999")
}

/// Whether the access layer refused the request (not the handler, whose own 403s say why).
fn refused_by_access(a: &Answer) -> bool {
    a.status == 401
        || (a.status == 403 && String::from_utf8_lossy(&a.body).contains("this needs the"))
        || a.status == 500
}

#[tokio::test]
async fn every_route_by_every_role() {
    let (state, _dir, tokens) = secured_state().await;
    let mut checked = 0;
    for rule in RULES {
        let uri = sample(rule.path);
        let method = rule.method.as_str();
        let anonymous = send(&state, method, &uri, &[], "").await;
        match rule.need {
            // Who am I answers 401 itself to a request with no identity.
            Need::Public if rule.path == "/api/me" => assert_eq!(anonymous.status, 401),
            Need::Public => assert!(
                !refused_by_access(&anonymous),
                "{method} {uri} is public, got {} without credentials",
                anonymous.status
            ),
            Need::Role(_) => {
                assert_eq!(anonymous.status, 401, "{method} {uri} without credentials");
                assert_eq!(anonymous.header("www-authenticate"), Some("Bearer realm=\"vigie\""));
                assert_eq!(anonymous.header("content-type"), Some("application/problem+json"));
            }
        }
        for (role, token) in &tokens {
            let bearer = format!("Bearer {token}");
            let a = send(&state, method, &uri, &[("authorization", &bearer)], "").await;
            let allowed = match rule.need {
                Need::Public => true,
                Need::Role(need) => *role >= need,
            };
            if allowed {
                assert!(
                    !refused_by_access(&a),
                    "{method} {uri} as {role}: refused with {}: {}",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                );
            } else {
                assert_eq!(a.status, 403, "{method} {uri} as {role}: {}", String::from_utf8_lossy(&a.body));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, RULES.len() * Role::ALL.len());
    // The same rules under the workspace prefix; another workspace is not revealed.
    let reader = format!("Bearer {}", tokens[&Role::Reader]);
    assert_eq!(send(&state, "GET", "/w/default/catalog", &[("authorization", &reader)], "").await.status, 200);
    assert_eq!(send(&state, "GET", "/w/default/catalog", &[], "").await.status, 401);
    let other = send(&state, "GET", "/w/prefecture-13/catalog", &[("authorization", &reader)], "").await;
    assert_eq!(other.status, 404);
    assert!(!String::from_utf8_lossy(&other.body).contains("prefecture-13"));
    // Refusals are in the audit trail.
    let admin = format!("Bearer {}", tokens[&Role::Admin]);
    let trail =
        send(&state, "GET", "/api/audit?action=request.refused&limit=1000", &[("authorization", &admin)], "").await;
    assert_eq!(trail.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let trail =
        send(&state, "GET", "/api/audit?action=request.refused&limit=1000", &[("authorization", &admin)], "").await;
    let rows = trail.json()["rows"].as_array().unwrap().len();
    assert!(rows > RULES.len(), "every refusal is audited: {rows} rows");
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let (state, _dir, tokens) = secured_state().await;
    let ids = state.identities.store().clone();
    let reader = tokens[&Role::Reader].clone();
    let ok = format!("Bearer {reader}");
    assert_eq!(send(&state, "GET", "/catalog", &[("authorization", &ok)], "").await.status, 200);
    // Unknown, malformed, other schemes, JWTs (`alg: none`, or HS256 signed with anything):
    // vigie's bearer tokens are opaque; nothing else is accepted.
    let none_jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.";
    let hs_jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";
    for bad in [
        "Bearer vgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "Bearer".to_owned(),
        format!("Basic {reader}"),
        format!("Bearer {none_jwt}"),
        format!("Bearer {hs_jwt}"),
        format!("Bearer {reader}x"),
    ] {
        let a = send(&state, "GET", "/catalog", &[("authorization", &bad)], "").await;
        assert_eq!(a.status, 401, "{bad}");
    }
    // Expired and not-yet-used tokens; revoked tokens.
    let alice = ids.account_by_name("u-reader").await.unwrap().unwrap();
    let expired = "vgt_expiredexpiredexpiredexpiredexpiredexpir";
    ids.create_token(&TokenInsert {
        workspace: "default",
        account: alice.id,
        name: "old",
        role: Role::Reader,
        secret_sha256: &vigie_tileserver::identity::secret::sha256_hex(expired),
        prefix: "vgt_ex",
        created_at: 0,
        expires_at: Some(1),
        territory: None,
    })
    .await
    .unwrap();
    let a = send(&state, "GET", "/catalog", &[("authorization", &format!("Bearer {expired}"))], "").await;
    assert_eq!(a.status, 401);
    assert!(a.json()["detail"].as_str().unwrap().contains("expired"));
    let list = ids.tokens("default").await.unwrap();
    let reader_token = list.iter().find(|t| t.name == "t-reader").unwrap();
    assert!(reader_token.first_used_at.is_some(), "first use recorded");
    let admin = format!("Bearer {}", tokens[&Role::Admin]);
    let r = send(&state, "DELETE", &format!("/api/tokens/{}", reader_token.id), &[("authorization", &admin)], "").await;
    assert_eq!(r.status, 204);
    let a = send(&state, "GET", "/catalog", &[("authorization", &ok)], "").await;
    assert_eq!(a.status, 401, "revoked");
    assert!(a.json()["detail"].as_str().unwrap().contains("revoked"));

    // Sessions: sign in, CSRF on changes, sign out, replayed cookie refused.
    let wrong = send(
        &state,
        "POST",
        "/api/session",
        &[("content-type", "application/json")],
        &json!({"name": "u-analyst", "password": "nope"}).to_string(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["detail"], "unknown account or wrong password");
    let unknown = send(
        &state,
        "POST",
        "/api/session",
        &[("content-type", "application/json")],
        &json!({"name": "nobody", "password": "nope"}).to_string(),
    )
    .await;
    assert_eq!(unknown.json()["detail"], wrong.json()["detail"], "an unknown account is not told apart");
    let signed = send(
        &state,
        "POST",
        "/api/session",
        &[("content-type", "application/json")],
        &json!({"name": "u-analyst", "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(signed.status, 200);
    let set_cookie = signed.header("set-cookie").unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = signed.json()["csrf"].as_str().unwrap().to_owned();
    assert_eq!(signed.json()["role"], "analyst");
    let me = send(&state, "GET", "/api/me", &[("cookie", &cookie)], "").await;
    assert_eq!((me.json()["name"].as_str(), me.json()["csrf"].as_str()), (Some("u-analyst"), Some(csrf.as_str())));
    let entry = json!({"title": "Colis suspect", "severity": 2, "tags": ["public_order"], "lon": 2.35, "lat": 48.85})
        .to_string();
    let ct = ("content-type", "application/json");
    let no_csrf = send(&state, "POST", "/api/entries", &[("cookie", &cookie), ct], &entry).await;
    assert_eq!(no_csrf.status, 403, "a change without the CSRF token");
    let bad_csrf =
        send(&state, "POST", "/api/entries", &[("cookie", &cookie), ct, ("x-csrf-token", "forged")], &entry).await;
    assert_eq!(bad_csrf.status, 403);
    let cross = send(
        &state,
        "POST",
        "/api/entries",
        &[("cookie", &cookie), ct, ("x-csrf-token", &csrf), ("origin", "https://evil.example")],
        &entry,
    )
    .await;
    assert_eq!(cross.status, 403, "cross-origin");
    let created =
        send(&state, "POST", "/api/entries", &[("cookie", &cookie), ct, ("x-csrf-token", &csrf)], &entry).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    assert_eq!(created.json()["author"], "u-analyst", "the author is the signed-in identity");
    let spoof =
        json!({"title": "x", "severity": 1, "tags": ["crowd"], "lon": 2.3, "lat": 48.8, "author": "someone else"})
            .to_string();
    let spoofed =
        send(&state, "POST", "/api/entries", &[("cookie", &cookie), ct, ("x-csrf-token", &csrf)], &spoof).await;
    assert_eq!(spoofed.status, 422, "no authoring as someone else");
    let out = send(&state, "DELETE", "/api/session", &[("cookie", &cookie), ("x-csrf-token", &csrf)], "").await;
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let replay = send(&state, "GET", "/catalog", &[("cookie", &cookie)], "").await;
    assert_eq!(replay.status, 401, "a session cookie replayed after sign-out");

    // Contributors: their own entries only, no qualification.
    let contributor = format!("Bearer {}", tokens[&Role::Contributor]);
    let id = created.json()["id"].as_u64().unwrap();
    let patch = |q: &str| json!({"qualification": q}).to_string();
    let h = [("authorization", contributor.as_str()), ("content-type", "application/json"), ("if-match", "\"1\"")];
    let a = send(&state, "PATCH", &format!("/api/entries/{id}"), &h, &json!({"title": "mine?"}).to_string()).await;
    assert_eq!(a.status, 403, "someone else's entry");
    let own = send(&state, "POST", "/api/entries", &[("authorization", &contributor), ct], &entry).await;
    let own_id = own.json()["id"].as_u64().unwrap();
    assert_eq!(own.json()["author"], "token:t-contributor");
    let a = send(&state, "PATCH", &format!("/api/entries/{own_id}"), &h, &patch("in_review")).await;
    assert_eq!(a.status, 403, "qualifying needs the analyst role");
    let a = send(
        &state,
        "PATCH",
        &format!("/api/entries/{own_id}"),
        &h,
        &json!({"title": "Colis suspect (levée de doute)"}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let analyst = format!("Bearer {}", tokens[&Role::Analyst]);
    let h = [("authorization", analyst.as_str()), ("content-type", "application/json"), ("if-match", "\"2\"")];
    assert_eq!(send(&state, "PATCH", &format!("/api/entries/{own_id}"), &h, &patch("in_review")).await.status, 200);

    // Throttling: after five failures the account waits, even with the right password.
    for _ in 0..5 {
        send(&state, "POST", "/api/session", &[ct], &json!({"name": "u-editor", "password": "wrong"}).to_string())
            .await;
    }
    let t = send(&state, "POST", "/api/session", &[ct], &json!({"name": "u-editor", "password": PASSWORD}).to_string())
        .await;
    assert_eq!(t.status, 429);
    assert!(t.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);

    // Tokens cannot outrank their creator or mint tokens; a disabled account's tokens stop.
    let admin_session =
        send(&state, "POST", "/api/session", &[ct], &json!({"name": "u-admin", "password": PASSWORD}).to_string())
            .await;
    let admin_cookie = admin_session.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let admin_csrf = admin_session.json()["csrf"].as_str().unwrap().to_owned();
    let ah = [("cookie", admin_cookie.as_str()), ct, ("x-csrf-token", admin_csrf.as_str())];
    let made = send(
        &state,
        "POST",
        "/api/tokens",
        &ah,
        &json!({"name": "gdal", "role": "reader", "expires_in_days": 30}).to_string(),
    )
    .await;
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    assert!(made.json()["token"].as_str().unwrap().starts_with("vgt_"));
    let listed = send(&state, "GET", "/api/tokens", &[("cookie", &admin_cookie)], "").await;
    assert!(
        !String::from_utf8_lossy(&listed.body).contains(made.json()["token"].as_str().unwrap()),
        "secrets never listed"
    );
    let by_token = send(
        &state,
        "POST",
        "/api/tokens",
        &[("authorization", &admin), ct],
        &json!({"name": "x", "role": "reader"}).to_string(),
    )
    .await;
    assert_eq!(by_token.status, 403, "a token does not mint tokens");
    state
        .identities
        .change_account("test", "u-contributor", vigie_tileserver::identity::AccountChange::Disable)
        .await
        .unwrap();
    assert_eq!(send(&state, "GET", "/catalog", &[("authorization", &contributor)], "").await.status, 401);
    // Removing a member: their session answers 404 for the workspace.
    let m = send(&state, "DELETE", "/api/members/u-analyst", &ah, "").await;
    assert_eq!(m.status, 204);
    assert_eq!(
        send(&state, "GET", "/catalog", &[("authorization", &analyst)], "").await.status,
        401,
        "their tokens are revoked"
    );
    let own = send(&state, "DELETE", "/api/members/u-admin", &ah, "").await;
    assert_eq!(own.status, 403, "an admin does not remove themself");
}

#[tokio::test]
async fn the_audit_trail_records_and_exports() {
    let (state, _dir, tokens) = secured_state().await;
    let contributor = format!("Bearer {}", tokens[&Role::Contributor]);
    let admin = format!("Bearer {}", tokens[&Role::Admin]);
    let ct = ("content-type", "application/json");
    let entry =
        json!({"title": "Rixe", "severity": 3, "tags": ["public_order"], "lon": 2.29, "lat": 48.86}).to_string();
    let created = send(&state, "POST", "/api/entries", &[("authorization", &contributor), ct], &entry).await;
    assert_eq!(created.status, 201);
    send(&state, "POST", "/api/session", &[ct], &json!({"name": "u-reader", "password": "wrong"}).to_string()).await;
    send(
        &state,
        "POST",
        "/api/entries",
        &[("authorization", &format!("Bearer {}", tokens[&Role::Reader])), ct],
        &entry,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rows = send(&state, "GET", "/api/audit?limit=1000", &[("authorization", &admin)], "").await.json();
    let rows = rows["rows"].as_array().unwrap();
    let find = |action: &str, outcome: &str| {
        rows.iter()
            .find(|r| r["action"] == action && r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action} {outcome} row in {rows:#?}"))
            .clone()
    };
    let create = find("entry.create", "ok");
    assert_eq!(create["actor"], "token:t-contributor#2");
    assert_eq!(create["target"], format!("entry/{}", created.json()["id"]));
    assert_eq!(create["detail"]["after"].as_str().unwrap().len(), 64);
    let failed = find("session.create", "refused");
    assert_eq!(failed["actor"], "u-reader");
    assert!(!failed.to_string().contains("wrong"), "no password in the trail");
    let refused = find("request.refused", "refused");
    assert_eq!(refused["target"], "POST /api/entries");
    find("token.first_use", "ok");
    for r in rows {
        assert!(!r.to_string().contains("vgt_"), "no token in the trail: {r}");
    }
    let filtered =
        send(&state, "GET", "/api/audit?action=entry.&outcome=ok", &[("authorization", &admin)], "").await.json();
    assert!(filtered["rows"].as_array().unwrap().iter().all(|r| r["action"].as_str().unwrap().starts_with("entry.")));
    let nd = send(&state, "GET", "/api/audit?format=ndjson", &[("authorization", &admin)], "").await;
    assert_eq!(nd.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(nd.body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Every row of the JSON page is in the export, identical (rows appended since come after).
    assert!(lines.len() >= rows.len(), "{} exported, {} listed", lines.len(), rows.len());
    assert_eq!(&lines[..rows.len()], rows.as_slice(), "the export is the listing, row for row");
    assert!(lines.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    let bad = send(&state, "GET", "/api/audit?outcome=maybe", &[("authorization", &admin)], "").await;
    assert_eq!(bad.status, 400);
}

fn vigie(args: &[&str], dir: &std::path::Path, stdin: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(vigie_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigie runs");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `vigie audit verify` names the first row deleted or altered behind vigie's back, on the
/// embedded store; the real binary writes the trail (CLI and HTTP).
#[test]
fn audit_verify_names_the_first_broken_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigie(
        &["user", "add", "alice", "--role", "admin", "--password-stdin"],
        dir.path(),
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = vigie(&["user", "add", "bob", "--role", "reader"], dir.path(), None);
    assert!(text(&out).contains("password (shown once): "), "{}", text(&out));
    let out =
        vigie(&["token", "create", "--user", "alice", "--name", "feed", "--role", "contributor"], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    {
        let server = Server::start(dir.path(), &["--demo", "--demo-entries", "200", "--require-sign-in"]);
        let agent = crate::support::agent();
        for i in 0..5 {
            let r = agent
                .post(&server.url("/api/entries"))
                .header("authorization", &format!("Bearer {token}"))
                .header("content-type", "application/json")
                .send(
                    json!({"title": format!("Point {i}"), "severity": 1, "tags": ["crowd"], "lon": 2.3, "lat": 48.8})
                        .to_string(),
                )
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        assert_eq!(agent.get(&server.url("/catalog")).call().unwrap().status(), 401);
    }
    let ok = vigie(&["audit", "verify"], dir.path(), None);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("audit trail intact"), "{}", text(&ok));
    let db = dir.path().join("vigie.db");
    let sql = |q: &str| {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(q, []).unwrap();
    };
    let count: i64 =
        rusqlite::Connection::open(&db).unwrap().query_row("SELECT count(*) FROM audit", [], |r| r.get(0)).unwrap();
    assert!(count >= 10, "{count} rows");
    // Altering row 6's outcome.
    sql("UPDATE audit SET outcome = 'refused' WHERE seq = 6");
    let out = vigie(&["audit", "verify"], dir.path(), None);
    assert!(!out.status.success());
    assert!(text(&out).contains("broken at row 6"), "{}", text(&out));
    sql("UPDATE audit SET outcome = 'ok' WHERE seq = 6");
    assert!(vigie(&["audit", "verify"], dir.path(), None).status.success(), "restored");
    // Deleting row 4.
    sql("DELETE FROM audit WHERE seq = 4");
    let out = vigie(&["audit", "verify"], dir.path(), None);
    assert!(text(&out).contains("broken at row 4") && text(&out).contains("deleted"), "{}", text(&out));
    // Deleting the newest rows only.
    let dir2 = tempfile::tempdir().unwrap();
    for name in ["a1", "a2", "a3"] {
        assert!(vigie(&["user", "add", name], dir2.path(), None).status.success());
    }
    let db2 = dir2.path().join("vigie.db");
    rusqlite::Connection::open(&db2).unwrap().execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let out = vigie(&["audit", "verify"], dir2.path(), None);
    assert!(text(&out).contains("broken at row 3"), "{}", text(&out));
}

/// GDAL's MVT and OAPIF drivers read with an API token (`GDAL_HTTP_HEADERS`), and are refused
/// without one.
#[test]
fn gdal_reads_with_an_api_token() {
    let ogrinfo = require_tool("ogrinfo", "apt-get install -y gdal-bin");
    let dir = tempfile::tempdir().unwrap();
    assert!(vigie(&["user", "add", "sig", "--role", "reader"], dir.path(), None).status.success());
    let out = vigie(&["token", "create", "--user", "sig", "--name", "qgis"], dir.path(), None);
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let entries = TEST_ENTRIES.to_string();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", &entries, "--require-sign-in"]);
    let run = |source: String, with_token: bool| {
        let mut cmd = Command::new(&ogrinfo);
        cmd.args(["-ro", "-al", "-so"]).arg(&source);
        if source.starts_with("MVT:") {
            cmd.args(["-oo", "TILE_EXTENSION=mvt"]);
        }
        if with_token {
            cmd.env("GDAL_HTTP_HEADERS", format!("Authorization: Bearer {token}"));
        }
        cmd.output().unwrap()
    };
    let mvt = format!("MVT:{}", server.url("/tiles/venues,perimeters/8"));
    let ok = run(mvt.clone(), true);
    assert!(ok.status.success(), "{}", text(&ok));
    let t = text(&ok);
    assert!(t.contains("Layer name: venues") && t.contains("Layer name: perimeters"), "{t}");
    let refused = run(mvt, false);
    assert!(!refused.status.success() || !text(&refused).contains("Layer name: venues"), "{}", text(&refused));
    let oapif = format!("OAPIF:{}", server.url("/ogc"));
    let ok = run(oapif.clone(), true);
    assert!(ok.status.success() && text(&ok).contains("venues"), "{}", text(&ok));
    let refused = run(oapif, false);
    assert!(!refused.status.success(), "{}", text(&refused));
}

/// The README's newcomer path: `serve --demo` on loopback lets the browser in as the demo
/// identity, prints one account per role, and a token from a demo account works at once.
#[test]
fn demo_mode_prints_one_account_per_role() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(vigie_bin())
        .args(["serve", "--demo", "--demo-entries", "100", "--listen", &listen, "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = {
        use std::io::BufRead as _;
        std::io::BufReader::new(stdout).lines().take(7).map(Result::unwrap).collect()
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines[0].starts_with("demo accounts"), "{lines:?}");
    let names: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(
        names,
        ["demo-reader", "demo-contributor", "demo-analyst", "demo-editor", "demo-staffing-manager", "demo-admin"]
    );
    // Started again on a public address without configuration: nothing is open.
    let server = Server::start(dir.path(), &["--demo", "--require-sign-in"]);
    let agent = crate::support::agent();
    assert_eq!(agent.get(&server.url("/catalog")).call().unwrap().status(), 401);
    let password = lines[1].split_whitespace().nth(1).unwrap();
    let r = agent
        .post(&server.url("/api/session"))
        .header("content-type", "application/json")
        .send(json!({"name": "demo-reader", "password": password}).to_string())
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A store made before identity existed (migration 1 only, as the earlier version left it, with
/// its data) opens with this version on both backends: migrated, its log intact, identity
/// working.
#[tokio::test]
async fn a_store_from_before_identity_opens_and_migrates() {
    use vigie_tileserver::store::codec::migrator;
    use vigie_tileserver::store::{Seed, Store};
    // SQLite: migration 1 and a venue, as the earlier version left the file.
    let dir = tempfile::tempdir().unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("vigie.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    migrator(&vigie_tileserver::store::sqlite::MIGRATIONS[..1]).run(&pool).await.unwrap();
    sqlx::query("INSERT INTO workspaces (id, title, created_at) VALUES ('default', 'default', 0)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO venues (workspace, code, name, kind, city, lon, lat, sports) VALUES ('default', 'STA', 'Stade', 'stadium', 'Paris', 2.36, 48.92, '[]')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = SqliteStore::open(dir.path(), "default", Synchronous::Normal).await.expect("an older store opens");
    assert_eq!(store.venues().await.unwrap()[0].code, "STA", "its data is intact");
    let ids = Store::identity(&store);
    let new = NewAccount { name: "a", display_name: "a", password_hash: None, oidc: None };
    ids.create_account(&new, 1).await.expect("identity tables exist");
    assert_eq!(verify_store(ids.as_ref()).await.unwrap().broken, None);
    // The later tables too (staffing, migration 8): empty, writable.
    let people = [vigie_staffing::Person {
        id: "p1".into(),
        name: "P".into(),
        directorate: "D".into(),
        skills: Vec::new(),
        phone: String::new(),
        email: String::new(),
    }];
    let staffing = Store::staffing(&store);
    assert_eq!(staffing.version("default").await.unwrap(), 0);
    let change = vigie_tileserver::staffing::store::Change::People(&people);
    staffing.write("default", &change, "test", 1).await.unwrap();
    assert_eq!(staffing.load("default").await.unwrap().people.len(), 1);
    // PostGIS: migration 1, then this version opens it, seeds, and opens it again.
    let db = PostgisDb::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    migrator(&vigie_tileserver::store::postgres::MIGRATIONS[..1]).run(&pool).await.unwrap();
    pool.close().await;
    let settings = PgSettings { url: db.url.clone(), pool_size: 4, statement_timeout_ms: 10_000, commits_in_flight: 1 };
    let seed = Seed::demo(1, 20, false);
    {
        let pg = PgStore::open(&settings, "default").await.expect("an older store opens");
        pg.seed(&seed).await.unwrap();
        let ids = Store::identity(&pg);
        ids.create_account(&new, 1).await.expect("identity tables exist");
    }
    let pg = PgStore::open(&settings, "default").await.expect("opens again");
    assert_eq!(pg.venues().await.unwrap().len(), seed.venues.len());
    drop(pg);
    db.drop_db().await;
}
