//! Secrets: random tokens from the operating system's generator, stored only as SHA-256
//! digests, compared in constant time.
//!
//! An API token or session id carries 256 random bits, so a fast digest is enough to store it
//! (a slow password hash protects low-entropy secrets; these cannot be guessed).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix of API tokens: recognisable in a leaked log or a secret scanner.
pub const TOKEN_PREFIX: &str = "vgt_";
/// Random bytes in a token, session id or CSRF token.
pub const SECRET_BYTES: usize = 32;

/// `n` random bytes from the operating system.
///
/// # Panics
/// When the operating system has no random source (vigie cannot issue secrets without one).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random generator is unavailable");
    buf
}

/// A fresh random secret, URL-safe base64 (43 characters).
pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>())
}

/// A fresh API token: `vgt_` + 43 characters.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// Lowercase hex SHA-256 of a secret: what the store keeps.
pub fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lowercase hex of bytes (on the hot path of every authenticated request: no formatter).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Whether two strings are equal, in time that depends on their lengths only.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_digested() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "sama"));
        assert!(!constant_time_eq("same", "sam"));
    }
}
