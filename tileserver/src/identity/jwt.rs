//! JSON Web Tokens signed by an OpenID provider, checked against its published keys (JWKS).
//!
//! Only asymmetric signatures are implemented — RS256/RS384/RS512 with an RSA key, ES256 with a
//! P-256 key, ES384 with a P-384 key — so `alg: none` and an HMAC "signed" with the provider's
//! public key cannot verify: there is no code path for them. The algorithm must match the key's
//! type (and the key's own `alg`, when it states one). Verification is `ring`'s, already in the
//! tree through rustls.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
pub const LEEWAY_S: i64 = 60;
/// Longest token accepted, bytes (a header line of that size is already unusual).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// One key of a JWKS document.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    /// Key id.
    pub kid: Option<String>,
    /// Key type: `RSA` or `EC`.
    pub kty: String,
    /// Intended algorithm, when stated.
    pub alg: Option<String>,
    /// Intended use (`sig`), when stated.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// RSA modulus.
    pub n: Option<String>,
    /// RSA exponent.
    pub e: Option<String>,
    /// EC curve.
    pub crv: Option<String>,
    /// EC x.
    pub x: Option<String>,
    /// EC y.
    pub y: Option<String>,
}

/// A JWKS document.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct JwkSet {
    /// Its keys.
    pub keys: Vec<Jwk>,
}

/// Why a token is refused. The messages say what is wrong without echoing the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("not a well-formed JWT")]
    Malformed,
    /// An algorithm vigie does not accept (none, HMAC, unknown).
    #[error("the token's algorithm '{0}' is not accepted (RS256/384/512, ES256, ES384 only)")]
    Algorithm(String),
    /// No key with this id in the provider's JWKS.
    #[error("no key '{0}' in the provider's key set")]
    UnknownKey(String),
    /// The key does not suit the algorithm, or is unreadable.
    #[error("the key '{0}' cannot verify this token's algorithm")]
    KeyMismatch(String),
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not include the configured audience.
    #[error("wrong audience")]
    Audience,
    /// `exp` has passed (or is missing).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The id token's `nonce` is not the one this sign-in sent.
    #[error("wrong nonce")]
    Nonce,
    /// A required claim is missing.
    #[error("the token has no '{0}' claim")]
    Missing(&'static str),
}

/// What a token must say.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// Exact `iss`.
    pub issuer: &'a str,
    /// A member of `aud`.
    pub audience: &'a str,
    /// The id token's `nonce`, when checking an id token from a sign-in.
    pub nonce: Option<&'a str>,
    /// Now, epoch seconds.
    pub now_s: i64,
}

/// The claims vigie uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `preferred_username`, else `email`, else `sub`: the account name proposed at first sign-in.
    pub username: String,
    /// `name`, when given.
    pub name: Option<String>,
    /// `exp`, epoch seconds.
    pub expires_s: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

fn part(s: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)
}

fn b64_field(v: Option<&String>, kid: &str) -> Result<Vec<u8>, TokenError> {
    v.and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()).ok_or_else(|| TokenError::KeyMismatch(kid.to_owned()))
}

/// Whether `token` looks like a JWT (three dot-separated parts), not an opaque token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The `kid` a token names, if any (to fetch the key set again when it is unknown).
pub fn key_id(token: &str) -> Option<String> {
    let header = part(token.split('.').next()?).ok()?;
    serde_json::from_slice::<Header>(&header).ok()?.kid
}

/// Verifies `token` with `keys` and checks its claims.
///
/// # Errors
/// The first thing wrong with it.
pub fn verify(token: &str, keys: &JwkSet, expect: &Expect<'_>) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: Header = serde_json::from_slice(&part(h)?).map_err(|_| TokenError::Malformed)?;
    if header.crit.is_some() {
        return Err(TokenError::Algorithm(format!("{} with critical extensions", header.alg)));
    }
    let (kty, curve) = match header.alg.as_str() {
        "RS256" | "RS384" | "RS512" => ("RSA", None),
        "ES256" => ("EC", Some("P-256")),
        "ES384" => ("EC", Some("P-384")),
        other => return Err(TokenError::Algorithm(other.chars().take(20).collect())),
    };
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| k.kty == kty && k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .collect();
    let key = match (candidates.as_slice(), &header.kid) {
        ([k], _) => *k,
        ([], Some(kid)) => return Err(TokenError::UnknownKey(kid.chars().take(80).collect())),
        _ => return Err(TokenError::UnknownKey("(the token names no key)".into())),
    };
    let kid = key.kid.clone().unwrap_or_default();
    if key.alg.as_deref().is_some_and(|a| a != header.alg) || curve.is_some_and(|c| key.crv.as_deref() != Some(c)) {
        return Err(TokenError::KeyMismatch(kid));
    }
    let message = &token.as_bytes()[..h.len() + 1 + p.len()];
    let sig = part(s)?;
    let verified = match header.alg.as_str() {
        "ES256" | "ES384" => {
            let mut point = vec![4u8];
            point.extend(b64_field(key.x.as_ref(), &kid)?);
            point.extend(b64_field(key.y.as_ref(), &kid)?);
            let alg = if header.alg == "ES256" {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            UnparsedPublicKey::new(alg, point).verify(message, &sig)
        }
        rs => {
            let (n, e) = (b64_field(key.n.as_ref(), &kid)?, b64_field(key.e.as_ref(), &kid)?);
            let alg = match rs {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                _ => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            RsaPublicKeyComponents { n: &n, e: &e }.verify(alg, message, &sig)
        }
    };
    verified.map_err(|_| TokenError::Signature)?;
    let claims: Value = serde_json::from_slice(&part(p)?).map_err(|_| TokenError::Malformed)?;
    check_claims(&claims, expect)
}

fn check_claims(c: &Value, expect: &Expect<'_>) -> Result<Claims, TokenError> {
    let text = |k: &str| c.get(k).and_then(Value::as_str);
    let int = |k: &str| c.get(k).and_then(Value::as_i64);
    if text("iss") != Some(expect.issuer) {
        return Err(TokenError::Issuer);
    }
    let audience_ok = match c.get("aud") {
        Some(Value::String(a)) => a == expect.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expect.audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(TokenError::Audience);
    }
    let exp = int("exp").ok_or(TokenError::Missing("exp"))?;
    if exp + LEEWAY_S <= expect.now_s {
        return Err(TokenError::Expired);
    }
    if int("nbf").is_some_and(|t| t > expect.now_s + LEEWAY_S)
        || int("iat").is_some_and(|t| t > expect.now_s + LEEWAY_S)
    {
        return Err(TokenError::NotYetValid);
    }
    if let Some(nonce) = expect.nonce
        && text("nonce") != Some(nonce)
    {
        return Err(TokenError::Nonce);
    }
    let subject = text("sub").filter(|s| !s.is_empty()).ok_or(TokenError::Missing("sub"))?.to_owned();
    let username = text("preferred_username").or_else(|| text("email")).unwrap_or(&subject).to_owned();
    Ok(Claims {
        issuer: expect.issuer.to_owned(),
        subject,
        username,
        name: text("name").map(str::to_owned),
        expires_s: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn expect() -> Expect<'static> {
        Expect { issuer: "https://idp.example", audience: "vigie", nonce: None, now_s: 1_000_000 }
    }

    #[test]
    fn unsigned_and_hmac_tokens_never_verify() {
        let claims = serde_json::json!({"iss": "https://idp.example", "aud": "vigie", "sub": "a", "exp": 2_000_000});
        let keys = JwkSet { keys: vec![] };
        for alg in ["none", "HS256", "HS512", "PS256x", ""] {
            let t = format!("{}.{}.", b64(&serde_json::json!({"alg": alg})), b64(&claims));
            assert!(matches!(verify(&t, &keys, &expect()), Err(TokenError::Algorithm(_))), "{alg}");
        }
        assert_eq!(verify("a.b", &keys, &expect()), Err(TokenError::Malformed));
        assert_eq!(verify("a.b.c.d", &keys, &expect()), Err(TokenError::Malformed));
    }

    #[test]
    fn claims_are_checked() {
        let ok = serde_json::json!({"iss": "https://idp.example", "aud": ["x", "vigie"], "sub": "u1", "exp": 1_000_100, "preferred_username": "alice"});
        assert_eq!(check_claims(&ok, &expect()).unwrap().username, "alice");
        let with = |k: &str, v: Value| {
            let mut c = ok.clone();
            c[k] = v;
            check_claims(&c, &expect())
        };
        assert_eq!(with("iss", "https://other".into()), Err(TokenError::Issuer));
        assert_eq!(with("aud", "other".into()), Err(TokenError::Audience));
        assert_eq!(with("exp", 900_000.into()), Err(TokenError::Expired));
        assert_eq!(with("nbf", 1_100_000.into()), Err(TokenError::NotYetValid));
        assert!(with("exp", (1_000_000 - LEEWAY_S + 1).into()).is_ok(), "within the leeway");
        let nonce = Expect { nonce: Some("n1"), ..expect() };
        assert_eq!(check_claims(&ok, &nonce), Err(TokenError::Nonce));
    }
}
