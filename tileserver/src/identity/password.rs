//! Local account passwords: argon2id (RFC 9106) with the `argon2` crate's defaults
//! (19 MiB, 2 passes, 1 lane: OWASP's recommended minimum), stored as PHC strings.
//! Hashing is CPU-bound by design: callers run it off the async workers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Shortest password accepted, characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, bytes (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Checks a new password's length.
///
/// # Errors
/// What is wrong with it.
pub fn check_new(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("a password has at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// The argon2id PHC string of a password, with a fresh random salt.
///
/// # Errors
/// When argon2 refuses the input (longer than it accepts).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&super::secret::random_bytes::<16>())?;
    Ok(argon2().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Whether `password` matches the stored PHC string (any argon2 variant and parameters it
/// names). An unreadable stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends the time of one verification against a hash no password matches: the answer for an
/// unknown or disabled account takes as long as for a wrong password, so timing does not tell
/// which accounts exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash(&super::secret::random_secret()).unwrap_or_default());
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "fresh salt each time");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("x", "not a phc string"));
        assert!(check_new("short").is_err());
        assert!(check_new("long enough password").is_ok());
    }
}
