//! OpenID Connect: the web view's sign-in (Authorization Code with PKCE) against a configured
//! provider, and the provider's access tokens accepted as bearer tokens.
//!
//! The provider's discovery document and key set (JWKS) are fetched once and cached; the key set
//! is fetched again when a token names a key it does not hold (the provider rotated its keys),
//! at most once per [`JWKS_REFRESH_MIN_MS`]. Verifying a token is local: no round trip to the
//! provider on the hot path.

use super::jwt::{self, Claims, Expect, JwkSet, TokenError};
use super::secret;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shortest interval between two fetches of the key set, milliseconds.
pub const JWKS_REFRESH_MIN_MS: i64 = 5_000;
/// Timeout of a request to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest document read from the provider, bytes.
const MAX_PROVIDER_BYTES: u64 = 1024 * 1024;

/// The `[auth.oidc]` settings.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Issuer URL, exactly as the provider's tokens name it (`iss`).
    pub issuer: String,
    /// This client's id at the provider.
    pub client_id: String,
    /// Client secret (from `VIGIE_OIDC_CLIENT_SECRET`); `None` for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// The `aud` access tokens must carry to be accepted as bearer tokens.
    pub audience: String,
    /// The redirect URI registered at the provider (`…/auth/oidc/callback`).
    pub redirect_uri: String,
    /// Role given in the workspace to an identity signing in for the first time (`None`: an
    /// admin must grant one; until then sign-in answers 404 for the workspace).
    pub default_role: Option<super::Role>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("audience", &self.audience)
            .field("redirect_uri", &self.redirect_uri)
            .field("default_role", &self.default_role)
            .finish()
    }
}

/// Why talking to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider cannot be reached or answered an error.
    #[error("the identity provider at {url} failed: {reason}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why (never a secret).
        reason: String,
    },
    /// The provider's answer is not what OpenID Connect says.
    #[error("the identity provider's answer is invalid: {0}")]
    Invalid(String),
    /// A token is refused.
    #[error(transparent)]
    Token(#[from] TokenError),
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Default)]
struct Cached {
    discovery: Option<Discovery>,
    keys: JwkSet,
    keys_fetched_ms: i64,
}

/// A sign-in under way: what the browser keeps (in an HttpOnly cookie) between the redirect to
/// the provider and its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// `state`, checked at the callback (CSRF on the sign-in itself).
    pub state: String,
    /// `nonce`, checked in the id token (replay).
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// Where to go after sign-in (a path of this site).
    pub return_to: String,
}

impl Pending {
    /// The cookie value.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}.{}", self.state, self.nonce, self.verifier, URL_SAFE_NO_PAD.encode(&self.return_to))
    }

    /// From the cookie value.
    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.split('.');
        let (state, nonce, verifier, ret) = (it.next()?, it.next()?, it.next()?, it.next()?);
        let return_to = String::from_utf8(URL_SAFE_NO_PAD.decode(ret).ok()?).ok()?;
        Some(Self {
            state: state.into(),
            nonce: nonce.into(),
            verifier: verifier.into(),
            return_to: safe_return(&return_to),
        })
    }
}

/// A return path that stays on this site: a path starting with one `/`, else `/`.
pub fn safe_return(path: &str) -> String {
    let ok =
        path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') && !path.chars().any(char::is_control);
    if ok { path.chars().take(1000).collect() } else { "/".into() }
}

/// The configured provider.
#[derive(Debug)]
pub struct Provider {
    settings: OidcSettings,
    // Lock rule: held to read or swap the cache only, never across a request to the provider.
    cached: Mutex<Cached>,
    agent: ureq::Agent,
}

impl Provider {
    /// The provider of `settings` (nothing is fetched until needed).
    pub fn new(settings: OidcSettings) -> Arc<Self> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(PROVIDER_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Arc::new(Self { settings, cached: Mutex::new(Cached::default()), agent })
    }

    /// The settings.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, ProviderError> {
        let unreachable = |reason: String| ProviderError::Unreachable { url: url.to_owned(), reason };
        let mut resp = self.agent.get(url).call().map_err(|e| unreachable(e.to_string()))?;
        if resp.status() != 200 {
            return Err(unreachable(format!("HTTP {}", resp.status())));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_PROVIDER_BYTES)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Invalid(format!("{url}: {e}")))
    }

    /// The discovery document, fetched once (blocking: call off the async workers).
    fn discovery(&self) -> Result<Discovery, ProviderError> {
        if let Some(d) = self.lock().discovery.clone() {
            return Ok(d);
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer.trim_end_matches('/'));
        let d: Discovery = self.get_json(&url)?;
        if d.issuer != self.settings.issuer {
            return Err(ProviderError::Invalid(format!(
                "the discovery document names issuer '{}', not the configured '{}'",
                d.issuer, self.settings.issuer
            )));
        }
        self.lock().discovery = Some(d.clone());
        Ok(d)
    }

    /// Fetches the key set again if it was not fetched within [`JWKS_REFRESH_MIN_MS`].
    fn refresh_keys(&self, now_ms: i64) -> Result<(), ProviderError> {
        if now_ms - self.lock().keys_fetched_ms < JWKS_REFRESH_MIN_MS {
            return Ok(());
        }
        let d = self.discovery()?;
        let keys: JwkSet = self.get_json(&d.jwks_uri)?;
        let mut c = self.lock();
        c.keys = keys;
        c.keys_fetched_ms = now_ms;
        Ok(())
    }

    /// Verifies a token with the cached keys, fetching them (again) when none are cached or the
    /// token names a key they do not hold (blocking: call off the async workers).
    ///
    /// # Errors
    /// The token's fault, or the provider's when its keys cannot be fetched.
    pub fn verify(&self, token: &str, audience: &str, nonce: Option<&str>) -> Result<Claims, ProviderError> {
        let now_ms = crate::now_ms();
        let expect = Expect { issuer: &self.settings.issuer, audience, nonce, now_s: now_ms / 1000 };
        if self.lock().keys.keys.is_empty() {
            self.refresh_keys(now_ms)?;
        }
        let first = jwt::verify(token, &self.lock().keys, &expect);
        match first {
            Err(TokenError::UnknownKey(_)) => {
                self.refresh_keys(now_ms)?;
                Ok(jwt::verify(token, &self.lock().keys, &expect)?)
            }
            other => Ok(other?),
        }
    }

    /// Starts a sign-in: the provider's authorization URL and what to keep until the callback.
    ///
    /// # Errors
    /// When the discovery document cannot be fetched.
    pub fn begin(&self, return_to: &str) -> Result<(String, Pending), ProviderError> {
        let d = self.discovery()?;
        let pending = Pending {
            state: secret::random_secret(),
            nonce: secret::random_secret(),
            verifier: secret::random_secret(),
            return_to: safe_return(return_to),
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", &self.settings.client_id),
            ("redirect_uri", &self.settings.redirect_uri),
            ("scope", "openid profile email"),
            ("state", &pending.state),
            ("nonce", &pending.nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| ProviderError::Invalid(e.to_string()))?;
        let sep = if d.authorization_endpoint.contains('?') { '&' } else { '?' };
        Ok((format!("{}{sep}{query}", d.authorization_endpoint), pending))
    }

    /// Ends a sign-in: exchanges the code (with the PKCE verifier) for tokens and checks the id
    /// token (signature, issuer, audience = client id, expiry, nonce).
    ///
    /// # Errors
    /// The provider's refusal or an invalid id token.
    pub fn finish(&self, code: &str, pending: &Pending) -> Result<Claims, ProviderError> {
        let d = self.discovery()?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_uri.as_str()),
            ("client_id", self.settings.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(s) = &self.settings.client_secret {
            form.push(("client_secret", s.as_str()));
        }
        let unreachable = |reason: String| ProviderError::Unreachable { url: d.token_endpoint.clone(), reason };
        let mut resp = self.agent.post(&d.token_endpoint).send_form(form).map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_PROVIDER_BYTES)
            .read_to_vec()
            .map_err(|e| unreachable(format!("HTTP {status}: {e}")))?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ProviderError::Invalid(format!("the token answer is not JSON (HTTP {status}): {e}")))?;
        if status != 200 {
            let error = body.get("error").and_then(|e| e.as_str()).unwrap_or("unknown error");
            return Err(unreachable(format!("HTTP {status}: {error}")));
        }
        let id_token = body
            .get("id_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| ProviderError::Invalid("the token answer has no id_token".into()))?;
        self.verify(id_token, &self.settings.client_id, Some(&pending.nonce))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_the_site() {
        assert_eq!(safe_return("/w/default/?a=1#x"), "/w/default/?a=1#x");
        for bad in ["https://evil.example/", "//evil.example/", "/\\evil", "evil", "/\nx", ""] {
            assert_eq!(safe_return(bad), "/", "{bad:?}");
        }
        let p = Pending { state: "s".into(), nonce: "n".into(), verifier: "v".into(), return_to: "/?x=1".into() };
        assert_eq!(Pending::decode(&p.encode()), Some(p));
        assert_eq!(Pending::decode("a.b"), None);
    }
}
