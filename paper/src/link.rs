//! Which links are followed: the model's links come from reports that people write, so a
//! `javascript:` or `data:` URL must never become clickable.

/// An absolute `http://` or `https://` URL (scheme in any case) with a host part and no
/// whitespace or control character: the only links a PDF gets.
pub(crate) fn absolute(url: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(url, "https://").or_else(|| strip_prefix_ignore_case(url, "http://"))?;
    let host_ok = rest.chars().next().is_some_and(|c| c != '/' && c != '\\');
    (host_ok && clean(url)).then_some(url)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// A link an HTML page may follow: [`absolute`], or a path on the same site (`/…`, not `//…`,
/// which is another host, nor `/\…`, which browsers read as `//…`).
pub(crate) fn href(url: &str) -> Option<&str> {
    if let Some(path) = url.strip_prefix('/') {
        let same_site = !path.starts_with('/') && !path.starts_with('\\');
        return (same_site && clean(url)).then_some(url);
    }
    absolute(url)
}

/// No whitespace or control character (browsers strip some of them, which can turn a harmless
/// looking string into another URL).
fn clean(url: &str) -> bool {
    !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::{absolute, href};

    #[test]
    fn http_and_site_paths_only() {
        assert_eq!(absolute("https://example.org/a?b=1&c"), Some("https://example.org/a?b=1&c"));
        assert_eq!(absolute("HTTP://example.org"), Some("HTTP://example.org"));
        assert_eq!(href("/reports/12"), Some("/reports/12"));
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>",
            "vbscript:x",
            "//evil.example",
            "/\\evil.example",
            "https:///path",
            "https://",
            "http://exa mple.org",
            "http://example.org/\n",
            "reports/12",
            "",
            "ftp://example.org",
        ] {
            assert_eq!(href(bad), None, "{bad:?}");
        }
        assert_eq!(absolute("/reports/12"), None, "no base URL in a PDF");
    }
}
