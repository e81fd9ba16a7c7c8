//! Who is asking, and what they may do: accounts with argon2id passwords, API tokens for
//! machines, server-side sessions for the web view, roles per workspace membership, and the
//! hash-chained audit trail.
//!
//! Every request is resolved once, by the HTTP layer's access middleware, to an [`Access`]:
//! the principal (an account signed in with a session, an API token, or the anonymous identity
//! a deployment explicitly allows), the workspace it acts in and its role there. Handlers take
//! the `Access`, never a header. The rules of which role each route needs live in one table
//! (`http::access::RULES`).

pub mod audit;
pub mod jwt;
pub mod oidc;
pub mod password;
pub mod secret;
pub mod service;
pub mod store;
pub mod throttle;

pub use service::{AccountChange, AuthError, Identities, IdentityPolicy, NewToken, SESSION_COOKIE, SignedIn};

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A role in a workspace. Each role can do everything the ones before it can:
/// reader < contributor < analyst < editor < staffing manager < admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Tiles, queries, the log.
    Reader,
    /// + create entries and attach photos; edit and delete their own entries.
    Contributor,
    /// + qualify entries, edit and delete anyone's.
    Analyst,
    /// + situation reports.
    Editor,
    /// + liaison-officer staffing.
    StaffingManager,
    /// + members, API tokens, the catalog, sources and imports, the audit trail.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 6] =
        [Role::Reader, Role::Contributor, Role::Analyst, Role::Editor, Role::StaffingManager, Role::Admin];

    /// The stored and wire name (`staffing_manager`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Contributor => "contributor",
            Role::Analyst => "analyst",
            Role::Editor => "editor",
            Role::StaffingManager => "staffing_manager",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown role '{0}': expected reader, contributor, analyst, editor, staffing_manager or admin")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.chars().take(40).collect()))
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A person with an account, signed in with a session (or, later, an OIDC token).
    Account {
        /// Account id.
        id: i64,
        /// Account name (unique), the author of what they write.
        name: String,
    },
    /// An API token (a machine: a GIS tool, a source feed, a script).
    Token {
        /// Token id.
        id: i64,
        /// The token's name, given at creation.
        name: String,
        /// The account that created it.
        account: i64,
    },
    /// No credential, on a deployment that explicitly lets anonymous requests in (demo mode on
    /// a loopback address, or `auth.anonymous_role`).
    Anonymous {
        /// The name it gave with `X-Vigie-User` (demo mode on loopback only).
        claimed: Option<String>,
    },
}

/// How the request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The session cookie: state-changing requests must carry this CSRF token.
    Session {
        /// The session's CSRF token (sent back in `X-CSRF-Token`).
        csrf: String,
        /// SHA-256 of the session secret (to sign out).
        secret_sha256: String,
    },
    /// `Authorization: Bearer` with an API token.
    Bearer,
    /// Nothing.
    Anonymous,
}

/// A resolved request: who, in which workspace, with which role.
#[derive(Debug, Clone)]
pub struct Access {
    /// Who.
    pub principal: Principal,
    /// The workspace the request acts in.
    pub workspace: String,
    /// The principal's role there.
    pub role: Role,
    /// The credential.
    pub via: Via,
    /// The client's address, when known.
    pub client: Option<IpAddr>,
    /// The author name to record (the account name, `token:NAME`, or for the anonymous demo
    /// identity the `X-Vigie-User` header on a loopback demo, else `anonymous`).
    pub author: String,
    /// The territory the membership is narrowed to (JSON, `crate::http::territory`); `None`:
    /// the whole workspace. An API token acts with its creator's.
    pub territory: Option<std::sync::Arc<str>>,
}

impl Access {
    /// Whether the role is at least `role`.
    pub fn allows(&self, role: Role) -> bool {
        self.role >= role
    }

    /// The actor named in the audit trail: `alice`, `token:feed#3`, `anonymous`.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::Account { name, .. } => name.clone(),
            Principal::Token { id, name, .. } => format!("token:{name}#{id}"),
            Principal::Anonymous { .. } => format!("anonymous:{}", self.author),
        }
    }

    /// Whether the principal is a signed-in or token identity (not anonymous).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self.principal, Principal::Anonymous { .. })
    }
}

/// Largest account or token name, characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks an account or token name: 1 to 64 characters, letters, digits, `.`, `-`, `_`, `@`.
///
/// # Errors
/// What is wrong with it.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{what} must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')) {
        return Err(format!("{what} may hold letters, digits, '.', '-', '_' and '@' only"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip_their_names() {
        for w in Role::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.as_str()));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice.martin@pp", "name").is_ok());
        assert!(check_name("", "name").is_err());
        assert!(check_name("a b", "name").is_err());
        assert!(check_name("a<script>", "name").is_err());
        assert!(check_name(&"x".repeat(65), "name").is_err());
    }
}
