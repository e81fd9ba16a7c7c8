//! Request filters from query parameters, shared by tiles, TileJSON and queries.
//!
//! | parameter | meaning |
//! |---|---|
//! | `from`, `to` | time window, RFC 3339 (`2024-07-26T18:00:00+02:00`) |
//! | `last` | relative window ending now: `90m`, `6h`, `2d` (at most 31 days); resolved on the server to a start time rounded down to a bucket of 1/60 of the window (at least a minute), so every client asking within the same bucket shares cached tiles |
//! | `tags` | comma-separated tags; keeps entries carrying any of them |
//! | `severity` | minimum severity, 0–4 |
//! | `qualification` | comma-separated states (`raw,in_review,confirmed,refuted,closed`) or `all`; default: all but `refuted` |
//! | `budget` | `off`: every matched feature, never thinned into clusters (up to the raw tile ceiling); `on` (default): layers over their budget are clustered |
//!
//! Unknown parameters are ignored (cache busters, client tokens) and stay out of cache keys.

use super::error::ApiError;
use vigie_layers::Filter;
use vigie_layers::feature::{Qualification, QualificationSet, format_time_ms, parse_time_ms};
use vigie_layers::model::{MAX_SEVERITY, ThemeVocabulary};

/// Most tags one filter may list.
pub const MAX_FILTER_TAGS: usize = 32;
/// Longest tag accepted, bytes.
pub const MAX_TAG_LEN: usize = 64;

/// Parses the filter parameters of a query string.
///
/// # Errors
/// 400 naming the parameter, the value and what is allowed.
pub fn parse_filter(query: Option<&str>, vocab: &ThemeVocabulary, now_ms: i64) -> Result<Filter, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    let mut filter = Filter::default();
    let mut tags: Vec<String> = Vec::new();
    let bad = |name: &str, value: &str, allowed: &str| {
        ApiError::bad_request("Invalid filter", format!("parameter '{name}' = '{}': {allowed}", truncate(value)))
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "from" | "to" | "at" => {
                let t = parse_time_ms(v)
                    .map_err(|_| bad(k, v, "expected an RFC 3339 date-time such as 2024-07-26T18:00:00+02:00"))?;
                match k.as_str() {
                    "from" => filter.from_ms = Some(t),
                    "to" => filter.to_ms = Some(t),
                    _ => filter.at_ms = Some(t),
                }
            }
            "tags" => {
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if t.len() > MAX_TAG_LEN {
                        return Err(bad(k, t, "a tag is at most 64 bytes"));
                    }
                    tags.push(t.to_owned());
                }
                if tags.len() > MAX_FILTER_TAGS {
                    return Err(bad(k, v, "at most 32 tags"));
                }
            }
            "last" => {
                let window = parse_duration_ms(v)
                    .ok_or_else(|| bad(k, v, "expected a duration such as 90m, 6h or 2d (at most 31d)"))?;
                let bucket = (window / 60).clamp(60_000, 3_600_000);
                filter.from_ms = Some((now_ms - window).div_euclid(bucket) * bucket);
                filter.relative = Some(v.clone());
            }
            "severity" => {
                let s: u8 = v
                    .parse()
                    .ok()
                    .filter(|s| *s <= MAX_SEVERITY)
                    .ok_or_else(|| bad(k, v, "expected a minimum severity from 0 to 4"))?;
                filter.min_severity = Some(s);
            }
            "qualification" => {
                filter.qualifications = if v == "all" {
                    QualificationSet::ALL
                } else {
                    let states = v
                        .split(',')
                        .map(|s| s.trim().parse::<Qualification>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| bad(k, v, &e.to_string()))?;
                    QualificationSet::of(states)
                };
            }
            "budget" => {
                filter.raw = match v.as_str() {
                    "off" => true,
                    "on" => false,
                    _ => return Err(bad(k, v, "expected 'off' (every feature, unthinned) or 'on' (the default)")),
                };
            }
            _ => {}
        }
    }
    if let (Some(f), Some(t)) = (filter.from_ms, filter.to_ms)
        && f > t
    {
        return Err(ApiError::bad_request("Invalid filter", "'from' is after 'to'"));
    }
    Ok(filter.with_tags(&tags, vocab))
}

/// The canonical query string of a filter (empty for the default filter), for URLs that must
/// hit the same cache entries.
pub fn to_query(f: &Filter) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(r) = &f.relative {
        pairs.push(("last", r.clone()));
    } else if let Some(t) = f.from_ms {
        pairs.push(("from", format_time_ms(t)));
    }
    if let Some(t) = f.to_ms {
        pairs.push(("to", format_time_ms(t)));
    }
    if let Some(t) = f.at_ms {
        pairs.push(("at", format_time_ms(t)));
    }
    if !f.tags().is_empty() {
        pairs.push(("tags", f.tags().join(",")));
    }
    if let Some(s) = f.min_severity {
        pairs.push(("severity", s.to_string()));
    }
    if f.qualifications != QualificationSet::default_visible() {
        let q: Vec<&str> = f.qualifications.iter().map(Qualification::as_str).collect();
        pairs.push(("qualification", q.join(",")));
    }
    if f.raw {
        pairs.push(("budget", "off".to_owned()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Longest relative window, milliseconds (31 days).
const MAX_WINDOW_MS: i64 = 31 * 86_400_000;

fn parse_duration_ms(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    let unit_ms: i64 = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    // A count too large for milliseconds is over the longest window too (not an overflow).
    let ms = n.checked_mul(unit_ms)?;
    (ms > 0 && ms <= MAX_WINDOW_MS).then_some(ms)
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The filter parameters selecting features (time window, tags, severity, qualification),
/// documented for the operations that take them.
pub(super) fn documented_selection(op: super::openapi::Op) -> super::openapi::Op {
    use super::openapi::schema as s;
    let state = "(raw|in_review|confirmed|refuted|closed)";
    op.query("from", s::date_time(), "Start of the time window (RFC 3339, e.g. `2024-07-26T18:00:00+02:00`)")
        .query("to", s::date_time(), "End of the time window (RFC 3339); not before `from`")
        .query(
            "last",
            s::pattern(r"^[0-9]+[mhd]$"),
            "A window ending now: `90m`, `6h`, `2d` (above 0, at most 31 days). Resolved to a start time rounded \
             down to 1/60 of the window (at least a minute), so clients asking within the same bucket share cached \
             answers; it replaces `from`",
        )
        .query(
            "tags",
            s::pattern(r"^[^,]{1,64}(,[^,]{1,64}){0,31}$"),
            "Comma-separated tags (at most 32, each at most 64 bytes): features carrying any of them",
        )
        .query("severity", s::int_in(0, i64::from(MAX_SEVERITY)), "Minimum severity, 0 (information) to 4 (critical)")
        .query(
            "qualification",
            s::pattern(&format!("^(all|{state}(,{state})*)$")),
            "Comma-separated qualification states, or `all`; default: every state but `refuted`",
        )
}

/// Every filter parameter: those of [`documented_selection`], plus `at` and `budget`, which
/// only tiles use (and TileJSON carries into its tile URLs).
pub(super) fn documented(op: super::openapi::Op) -> super::openapi::Op {
    use super::openapi::schema as s;
    documented_selection(op)
        .query(
            "at",
            s::date_time(),
            "The instant shown by the layers that change with the clock (the staffing layer: the shifts under way \
             then); default: now",
        )
        .query(
            "budget",
            s::one_of(&["on", "off"]),
            "`on` (default): layers over their tile budget are thinned into clusters; `off`: every matched feature, \
             never thinned (up to the raw tile ceiling, `raw_tile_max_bytes`)",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> ThemeVocabulary {
        ThemeVocabulary::new(["health".to_owned()])
    }

    #[test]
    fn parses_and_round_trips() {
        let q = "qualification=refuted,raw&severity=2&tags=health,vip&from=2024-07-26T18:00:00%2B02:00&v=9";
        let f = parse_filter(Some(q), &vocab(), 0).unwrap();
        assert_eq!(f.min_severity, Some(2));
        assert!(f.qualifications.contains(Qualification::Refuted));
        let again = parse_filter(Some(&to_query(&f)), &vocab(), 0).unwrap();
        assert_eq!(again, f);
        assert_eq!(to_query(&Filter::default()), "");
    }

    #[test]
    fn errors_name_parameter_and_value() {
        for (q, needle) in [
            ("severity=9", "severity"),
            ("from=yesterday", "RFC 3339"),
            ("qualification=maybe", "maybe"),
            ("from=2024-08-02T00:00:00Z&to=2024-08-01T00:00:00Z", "after"),
            ("last=6w", "duration"),
            ("last=40d", "duration"),
            ("last=200000000000d", "duration"),
            ("last=99999999999999999999m", "duration"),
        ] {
            let e = parse_filter(Some(q), &vocab(), 0).unwrap_err().to_string();
            assert!(e.contains(needle), "{q}: {e}");
        }
    }

    #[test]
    fn relative_windows_resolve_to_shared_buckets() {
        let now = 1_722_000_123_456;
        let a = parse_filter(Some("last=6h"), &vocab(), now).unwrap();
        let b = parse_filter(Some("last=6h"), &vocab(), now + 30_000).unwrap();
        assert_eq!(a.cache_key(), b.cache_key(), "same 6-minute bucket");
        let from = a.from_ms.unwrap();
        assert!(from <= now - 6 * 3_600_000 && from > now - 6 * 3_600_000 - 360_000);
        assert_eq!(from % 360_000, 0);
        assert_eq!(to_query(&a), "last=6h");
    }
}
