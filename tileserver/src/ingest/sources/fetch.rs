//! Fetching a source when it changed: a local file or folder by its modification time and
//! size, a URL by conditional GET (`If-None-Match` / `If-Modified-Since`) and, when the server
//! ignores them, by the SHA-256 of the body (downloaded to a temporary file, at most
//! `max_bytes`).
//!
//! Blocking code (file system and HTTP): run it on a blocking thread. Imports the sources'
//! [`config`](super::config) and [`state`](super::state), nothing else of the crate.

use super::config::{Location, Source, redact, url_format};
use super::state::Seen;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use vigie_layers::readers::Format;

/// What a fetch found.
pub(super) enum Fetched {
    /// Nothing new.
    Unchanged,
    /// A file to import (kept alive by the guard), its format, and what to remember.
    File { path: PathBuf, _guard: Option<tempfile::TempPath>, format: Option<Format>, seen: Seen, bytes: Option<u64> },
}

fn modified(path: &Path) -> std::io::Result<(i64, u64)> {
    let meta = std::fs::metadata(path)?;
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    if meta.is_dir() {
        // A folder changes when any file in it does.
        let mut latest = (0i64, 0u64);
        for e in std::fs::read_dir(path)?.filter_map(Result::ok) {
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                latest.0 = latest.0.max(m.modified().map_or(0, ms));
                latest.1 += m.len();
            }
        }
        return Ok(latest);
    }
    Ok((meta.modified().map_or(0, ms), meta.len()))
}

/// Fetches a source when it changed (blocking: file system and HTTP).
pub(super) fn fetch(source: &Source, seen: &Seen, current: bool) -> Result<Fetched, String> {
    match &source.location {
        Location::Path(p) => {
            if let Some(root) = &source.confined_to {
                inside(root, p).map_err(|e| format!("{}: {e}", source.shown()))?;
            }
            let (modified_ms, len) = modified(p).map_err(|e| format!("{}: {e}", p.display()))?;
            if current && seen.modified_ms == Some(modified_ms) && seen.len == Some(len) {
                return Ok(Fetched::Unchanged);
            }
            let seen = Seen { modified_ms: Some(modified_ms), len: Some(len), ..Seen::default() };
            Ok(Fetched::File { path: p.clone(), _guard: None, format: None, seen, bytes: None })
        }
        Location::Url(url) => download(url, source, seen, current),
    }
}

/// The HTTP client of what vigie fetches on a workspace's behalf (sources, remote tile
/// archives): `timeout` for a whole request, statuses as answers (not errors), and, unless
/// `private_urls`, only public addresses (checked when each name is resolved, so a name that
/// resolves to a private address, or a redirect to one, is refused).
pub(crate) fn agent(timeout: Duration, private_urls: bool) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
        .build();
    if private_urls {
        ureq::Agent::new_with_config(config)
    } else {
        ureq::Agent::with_parts(config, DefaultConnector::default(), PublicOnly::default())
    }
}

fn download(url: &str, source: &Source, seen: &Seen, current: bool) -> Result<Fetched, String> {
    let shown = redact(url);
    let agent = agent(Duration::from_secs(source.timeout_s), source.private_urls);
    let mut request = agent.get(url);
    if current {
        if let Some(etag) = &seen.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(lm) = &seen.last_modified {
            request = request.header("If-Modified-Since", lm);
        }
    }
    let response = request.call().map_err(|e| format!("{shown}: {e}"))?;
    let status = response.status().as_u16();
    if status == 304 {
        return Ok(Fetched::Unchanged);
    }
    if status != 200 {
        return Err(format!("{shown}: HTTP {status}"));
    }
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let content_type = header("content-type");
    if let Some(n) = header("content-length").and_then(|l| l.parse::<u64>().ok())
        && n > source.max_bytes
    {
        return Err(format!("{shown}: {n} bytes, more than max_bytes = {}", source.max_bytes));
    }
    let format =
        source.format.or_else(|| url_format(url)).or_else(|| content_type.as_deref().and_then(Format::from_media_type));
    let Some(format) = format else {
        return Err(format!(
            "{shown}: cannot tell the format (Content-Type {}): give format = \"…\"",
            content_type.as_deref().unwrap_or("none")
        ));
    };
    let mut file = tempfile::Builder::new()
        .prefix("vigie-source-")
        .suffix(&format!(".{}", format.extension()))
        .tempfile()
        .map_err(|e| format!("temporary file: {e}"))?;
    let mut body = response.into_body();
    let mut reader = body.with_config().limit(source.max_bytes).reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.to_string().contains("limit") || e.to_string().contains("exceeds") => {
                return Err(format!("{shown}: the body is larger than max_bytes = {}", source.max_bytes));
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| format!("temporary file: {e}"))?;
        bytes += n as u64;
    }
    file.flush().map_err(|e| format!("temporary file: {e}"))?;
    let sha256 = format!("{:x}", hasher.finalize());
    if current && seen.sha256.as_deref() == Some(sha256.as_str()) {
        return Ok(Fetched::Unchanged);
    }
    let path = file.into_temp_path();
    let seen = Seen { etag, last_modified, sha256: Some(sha256), ..Seen::default() };
    Ok(Fetched::File { path: path.to_path_buf(), _guard: Some(path), format: Some(format), seen, bytes: Some(bytes) })
}

/// Whether `p` (a stored source's file or folder) and, for a folder, the files in it resolve
/// inside `root` once links are followed.
fn inside(root: &Path, p: &Path) -> Result<(), String> {
    let root = root.canonicalize().map_err(|e| format!("the workspace's sources folder: {e}"))?;
    let outside = || "leads outside the workspace's sources folder (through a link)".to_owned();
    let real = p.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    if real.is_dir() {
        for e in std::fs::read_dir(&real).map_err(|e| e.to_string())?.filter_map(Result::ok) {
            if e.path().canonicalize().is_ok_and(|r| !r.starts_with(&root)) {
                return Err(outside());
            }
        }
    }
    Ok(())
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local (cloud metadata services), shared (CGNAT), unspecified, multicast,
/// broadcast, documentation or reserved. What a stored source's URL may reach by default.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The resolver of stored sources' downloads: the system's, keeping only public addresses.
/// The connection goes to an address checked here (a name that resolves to a private address
/// at fetch time, or after a redirect, is refused: no rebinding), except through a configured
/// proxy, which then decides.
#[derive(Debug, Default)]
struct PublicOnly(DefaultResolver);

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let all = self.0.resolve(uri, config, timeout)?;
        if config.proxy().is_some_and(|p| Some(p.host()) == uri.host()) {
            return Ok(all);
        }
        let mut public = self.empty();
        for addr in all.iter().filter(|a| is_public(a.ip())) {
            public.push(*addr);
        }
        if public.is_empty() {
            return Err(ureq::Error::Other(
                format!(
                    "{} resolves to no public address (loopback, private and link-local addresses are refused unless \
                     the operator sets workspace_sources.allow_private_urls)",
                    uri.host().unwrap_or_default()
                )
                .into(),
            ));
        }
        Ok(public)
    }
}
