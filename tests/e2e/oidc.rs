//! OpenID Connect against a real provider (npm `oidc-provider`, started by the test): its
//! access tokens are accepted as bearer tokens, every bad one is refused — expired, not yet
//! valid, wrong issuer, wrong audience, unknown key, `alg: none`, HMAC signed with the public
//! key, a payload altered after signing — and a rotated key is fetched again. The web sign-in
//! through the provider's login page runs in Chromium (`browser.rs`).

use crate::support::{OidcProvider, Server, agent, free_port};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn status(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let mut r = agent().get(&server.url(path)).header("authorization", &format!("Bearer {token}")).call().unwrap();
    let code = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn openid_access_tokens_are_verified_and_every_bad_one_refused() {
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}/auth/oidc/callback"));
    let dir = tempfile::tempdir().unwrap();
    let mut args = provider.vigie_args(dir.path());
    args.extend(["--demo", "--demo-entries", "200", "--require-sign-in"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_on(port, dir.path(), &args, &provider.env(), None);

    // A real access token: the client-credentials grant of the provider.
    let discovery: Value = crate::support::get_json(&format!("{}/.well-known/openid-configuration", provider.issuer));
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap();
    let mut r = agent()
        .post(token_endpoint)
        .send_form([
            ("grant_type", "client_credentials"),
            ("resource", provider.audience.as_str()),
            ("client_id", provider.client_id.as_str()),
            ("client_secret", provider.client_secret.as_str()),
        ])
        .unwrap();
    let grant: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let access = grant["access_token"].as_str().unwrap_or_else(|| panic!("no access token: {grant}"));
    assert_eq!(access.split('.').count(), 3, "a JWT access token: {grant}");
    let (code, me) = status(&server, "/api/me", access);
    assert_eq!(code, 200, "{me}");
    assert_eq!((me["kind"].as_str(), me["role"].as_str()), (Some("account"), Some("reader")), "{me}");
    assert_eq!(status(&server, "/catalog", access).0, 200);

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = |extra: Value| {
        let mut c = json!({"iss": provider.issuer, "aud": provider.audience, "sub": "svc-sig",
                           "preferred_username": "svc-sig", "iat": now, "exp": now + 300});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let signed = |extra: Value| provider.sign("/test/sign", &json!({}), &claims(extra));
    let good = signed(json!({}));
    let (code, me) = status(&server, "/api/me", &good);
    assert_eq!((code, me["name"].as_str()), (200, Some("svc-sig")), "{me}");

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let parts: Vec<&str> = good.split('.').collect();
    let tampered =
        format!("{}.{}.{}", parts[0], b64(&claims(json!({"sub": "admin", "preferred_username": "admin"}))), parts[2]);
    let cases = [
        ("expired", signed(json!({"exp": now - 3600, "iat": now - 7200})), "expired"),
        ("not yet valid", signed(json!({"nbf": now + 3600})), "not valid yet"),
        ("wrong issuer", signed(json!({"iss": "https://idp.evil.example"})), "issuer"),
        ("wrong audience", signed(json!({"aud": "another-api"})), "audience"),
        ("unknown key", provider.sign("/test/sign-unknown-key", &json!({}), &claims(json!({}))), "no key"),
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(json!({})))),
            "algorithm",
        ),
        ("HMAC with the public key", provider.sign("/test/sign-hmac", &json!({}), &claims(json!({}))), "algorithm"),
        ("payload altered after signing", tampered, "signature"),
        (
            "no expiry",
            provider.sign(
                "/test/sign",
                &json!({}),
                &json!({"iss": provider.issuer, "aud": provider.audience, "sub": "x"}),
            ),
            "exp",
        ),
    ];
    for (what, token, says) in &cases {
        let (code, body) = status(&server, "/catalog", token);
        assert_eq!(code, 401, "{what}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{what}: the refusal says why: {detail}");
    }
    assert_eq!(status(&server, "/catalog", &good).0, 200, "the good token still works");

    // Key rotation: a token signed with a key published only after the rotation is refused
    // until vigie fetches the key set again, which it does on the unknown key id (at most
    // every few seconds).
    let rotated = provider.sign("/test/sign", &json!({"kid": "test-rs-2"}), &claims(json!({"sub": "after-rotation"})));
    assert_eq!(status(&server, "/catalog", &rotated).0, 401, "unknown before the rotation");
    let r = agent().post(&format!("{}/test/rotate", provider.issuer)).send_empty().unwrap();
    assert!(r.status().is_success());
    std::thread::sleep(Duration::from_millis(
        u64::try_from(vigie_tileserver::identity::oidc::JWKS_REFRESH_MIN_MS).unwrap() + 200,
    ));
    let (code, body) = status(&server, "/catalog", &rotated);
    assert_eq!(code, 200, "after the rotation: {body}");
}
