//! Filters that tile and query requests apply to features: time window, tags, minimum
//! severity, qualification.
//!
//! A criterion applies to the features that carry the attribute it reads: venues have no
//! severity, so a severity filter leaves them alone. A time window keeps a feature whose time
//! (or activation interval) overlaps it.

use crate::feature::{Attrs, Facts, Qualification, QualificationSet, Text, ThemeMask};
use crate::model::ThemeVocabulary;
use crate::scope::Scope;
use std::fmt::Write as _;
use std::sync::Arc;

/// What a request keeps. Built at the edge from query parameters, then only read.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Keep features at or after this instant (epoch ms).
    pub from_ms: Option<i64>,
    /// Keep features at or before this instant (epoch ms).
    pub to_ms: Option<i64>,
    /// Keep features carrying any of these tags (empty: no tag criterion).
    tags: Vec<Text>,
    tag_mask: ThemeMask,
    free_tags: bool,
    /// Keep features of at least this severity.
    pub min_severity: Option<u8>,
    /// Keep features in these qualification states.
    pub qualifications: QualificationSet,
    /// The relative window this filter's `from_ms` was resolved from (`6h`), kept so links can
    /// carry the window rather than a frozen instant. Not part of the cache key: `from_ms` is.
    pub relative: Option<String>,
    /// The asker's territory: on scoped layers, only features meeting it. Set from the
    /// identity, never from a query parameter.
    pub scope: Option<Arc<Scope>>,
    /// The instant layers that change with the clock show (the staffing layer: the shift
    /// under way then); `None`: now.
    pub at_ms: Option<i64>,
    /// Every matched feature, never thinned into clusters (`budget=off`): for GIS clients and
    /// comparisons. Up to the raw ceiling ([`crate::budget`]).
    pub raw: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            from_ms: None,
            to_ms: None,
            tags: Vec::new(),
            tag_mask: ThemeMask::default(),
            free_tags: false,
            min_severity: None,
            at_ms: None,
            raw: false,
            qualifications: QualificationSet::default_visible(),
            relative: None,
            scope: None,
        }
    }
}

impl Filter {
    /// Sets the tag criterion (any of `tags`), resolving themes to bits once.
    #[must_use]
    pub fn with_tags(mut self, tags: &[String], vocab: &ThemeVocabulary) -> Self {
        let mut tags: Vec<Text> = tags.iter().map(|t| Text::from(t.as_str())).collect();
        tags.sort();
        tags.dedup();
        self.tag_mask = vocab.mask(&tags);
        self.free_tags = tags.iter().any(|t| !vocab.contains(t));
        self.tags = tags;
        self
    }

    /// The tag criterion.
    pub fn tags(&self) -> &[Text] {
        &self.tags
    }

    /// Whether a feature with these attributes passes.
    #[inline]
    pub fn matches(&self, a: &Attrs) -> bool {
        if self.from_ms.is_some() || self.to_ms.is_some() {
            if !a.windows().is_empty() {
                if !a.windows().iter().any(|&(s, e)| self.overlaps(s, e)) {
                    return false;
                }
            } else if let Some(t) = a.time_ms.get()
                && !self.overlaps(t, t)
            {
                return false;
            }
        }
        if let (Some(min), Some(s)) = (self.min_severity, a.severity)
            && s < min
        {
            return false;
        }
        if let Some(q) = a.qualification
            && !self.qualifications.contains(q)
        {
            return false;
        }
        if let Some(tags) = &a.tags
            && !self.tags.is_empty()
            && !self.tags_match(a.themes, tags)
        {
            return false;
        }
        true
    }

    /// [`Filter::matches`] read from a feature's facts (its brief's, or its point slot's);
    /// `None` when they cannot tell (a time window over a feature with activation windows,
    /// free tags its themes do not settle): the caller then reads the feature's [`Attrs`].
    #[inline]
    pub fn matches_facts(&self, b: &Facts) -> Option<bool> {
        if self.from_ms.is_some() || self.to_ms.is_some() {
            if b.has_windows() {
                return None;
            }
            if let Some(t) = b.time_ms()
                && !self.overlaps(t, t)
            {
                return Some(false);
            }
        }
        if let (Some(min), Some(s)) = (self.min_severity, b.severity())
            && s < min
        {
            return Some(false);
        }
        if let Some(q) = b.qualification()
            && !self.qualifications.contains(q)
        {
            return Some(false);
        }
        if b.has_tags() && !self.tags.is_empty() && !b.themes().intersects(self.tag_mask) {
            return if self.free_tags { None } else { Some(false) };
        }
        Some(true)
    }

    /// Whether [start, end] meets the time window.
    fn overlaps(&self, start: i64, end: i64) -> bool {
        !(self.from_ms.is_some_and(|from| end < from) || self.to_ms.is_some_and(|to| start > to))
    }

    fn tags_match(&self, themes: ThemeMask, tags: &[Text]) -> bool {
        themes.intersects(self.tag_mask) || (self.free_tags && tags.iter().any(|t| self.tags.binary_search(t).is_ok()))
    }

    /// A canonical text of the filter: equal filters give equal keys, whatever the order of
    /// the query parameters. Part of every tile cache key and TileJSON URL.
    pub fn cache_key(&self) -> String {
        let mut k = String::new();
        if let Some(f) = self.from_ms {
            let _ = write!(k, "from={f};");
        }
        if let Some(t) = self.to_ms {
            let _ = write!(k, "to={t};");
        }
        if !self.tags.is_empty() {
            let _ = write!(k, "tags={};", self.tags.join(","));
        }
        if let Some(s) = self.min_severity {
            let _ = write!(k, "sev={s};");
        }
        if self.qualifications != QualificationSet::default_visible() {
            let q: Vec<&str> = self.qualifications.iter().map(Qualification::as_str).collect();
            let _ = write!(k, "q={};", q.join(","));
        }
        if let Some(scope) = &self.scope {
            let _ = write!(k, "scope={};", scope.key());
        }
        if let Some(t) = self.at_ms {
            let _ = write!(k, "at={t};");
        }
        if self.raw {
            k.push_str("raw;");
        }
        k
    }

    /// Narrows the scoped layers to a territory (the asker's, from their identity).
    #[must_use]
    pub fn with_scope(mut self, scope: Option<Arc<Scope>>) -> Self {
        self.scope = scope;
        self
    }

    /// Whether the filter keeps what the default filter keeps, its territory aside.
    pub fn keeps_default(&self) -> bool {
        self.from_ms.is_none()
            && self.to_ms.is_none()
            && self.tags.is_empty()
            && self.min_severity.is_none()
            && self.qualifications == QualificationSet::default_visible()
    }

    /// Whether a feature of a scoped layer is visible: no territory, or it meets it.
    #[inline]
    pub fn admits(&self, g: &geo::Geometry<f64>) -> bool {
        self.scope.as_ref().is_none_or(|s| s.admits(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Millis, Qualification};

    fn entry(time: i64, sev: u8, q: Qualification, tags: &[&str], vocab: &ThemeVocabulary) -> Attrs {
        Attrs {
            time_ms: Millis::at(time),
            severity: Some(sev),
            qualification: Some(q),
            themes: vocab.mask(tags),
            tags: Some(tags.iter().map(|t| Text::from(*t)).collect()),
            ..Attrs::default()
        }
    }

    #[test]
    fn each_criterion_can_reject() {
        let vocab = ThemeVocabulary::new(["health".into(), "crowd".into()]);
        let a = entry(1000, 2, Qualification::Confirmed, &["health", "vip"], &vocab);
        assert!(Filter::default().matches(&a));
        assert!(!Filter { from_ms: Some(1001), ..Filter::default() }.matches(&a));
        assert!(!Filter { to_ms: Some(999), ..Filter::default() }.matches(&a));
        assert!(Filter { from_ms: Some(1000), to_ms: Some(1000), ..Filter::default() }.matches(&a));
        assert!(!Filter { min_severity: Some(3), ..Filter::default() }.matches(&a));
        assert!(Filter::default().with_tags(&["vip".into()], &vocab).matches(&a));
        assert!(Filter::default().with_tags(&["health".into()], &vocab).matches(&a));
        assert!(!Filter::default().with_tags(&["crowd".into(), "other".into()], &vocab).matches(&a));
        let refuted = entry(1000, 2, Qualification::Refuted, &["health"], &vocab);
        assert!(!Filter::default().matches(&refuted), "refuted entries are hidden by default");
        let all = Filter { qualifications: QualificationSet::ALL, ..Filter::default() };
        assert!(all.matches(&refuted));
    }

    #[test]
    fn intervals_overlap_the_window_and_untyped_features_pass() {
        let perimeter = Attrs::default().with_windows([(100, 200), (500, 600)]);
        assert!(Filter { from_ms: Some(150), to_ms: Some(300), ..Filter::default() }.matches(&perimeter));
        assert!(!Filter { from_ms: Some(201), to_ms: Some(499), ..Filter::default() }.matches(&perimeter));
        assert!(Filter { from_ms: Some(550), ..Filter::default() }.matches(&perimeter));
        assert!(!Filter { from_ms: Some(601), ..Filter::default() }.matches(&perimeter));
        let venue = Attrs::default();
        let strict = Filter { from_ms: Some(5), min_severity: Some(4), ..Filter::default() };
        assert!(strict.matches(&venue));
    }

    #[test]
    fn a_brief_verdict_is_the_full_verdict() {
        use crate::feature::{Brief, Feature};
        let vocab = ThemeVocabulary::new(["health".into(), "crowd".into()]);
        let tag_sets: [&[&str]; 4] = [&[], &["health"], &["vip"], &["crowd", "vip"]];
        let mut attrs = vec![Attrs::default(), Attrs::default().with_windows([(100, 200)])];
        for t in [50, 150, 250] {
            for sev in [0, 2, 4] {
                for q in Qualification::ALL {
                    for tags in tag_sets {
                        attrs.push(entry(t, sev, q, tags, &vocab));
                    }
                }
            }
        }
        let mut filters = Vec::new();
        for (from_ms, to_ms) in [(None, None), (Some(100), None), (None, Some(200)), (Some(120), Some(180))] {
            for min_severity in [None, Some(3)] {
                for tags in
                    [&[][..], &["health".to_owned()], &["vip".to_owned()], &["crowd".to_owned(), "x".to_owned()]]
                {
                    for qualifications in [QualificationSet::default_visible(), QualificationSet::ALL] {
                        let f = Filter { from_ms, to_ms, min_severity, qualifications, ..Filter::default() };
                        filters.push(f.with_tags(tags, &vocab));
                    }
                }
            }
        }
        let (mut told, mut open) = (0, 0);
        for (i, a) in attrs.into_iter().enumerate() {
            let f = Feature::from_lonlat(i as u64, &geo::Geometry::Point(geo::Point::new(2.0, 48.0)), a, Box::new([]))
                .unwrap();
            let brief = Brief::of(&f);
            for filter in &filters {
                match filter.matches_facts(brief.facts()) {
                    Some(v) => {
                        assert_eq!(v, filter.matches(&f.attrs), "{filter:?} {:?}", f.attrs);
                        told += 1;
                    }
                    None => open += 1,
                }
            }
        }
        assert!(told > 4 * open, "the brief settles most cases: {told} told, {open} open");
    }

    #[test]
    fn cache_key_is_canonical() {
        let vocab = ThemeVocabulary::new(["a".into(), "b".into()]);
        let f1 = Filter::default().with_tags(&["b".into(), "a".into(), "b".into()], &vocab);
        let f2 = Filter::default().with_tags(&["a".into(), "b".into()], &vocab);
        assert_eq!(f1.cache_key(), f2.cache_key());
        assert_eq!(Filter::default().cache_key(), "");
        let f3 = Filter { min_severity: Some(2), ..Filter::default() };
        assert_ne!(f3.cache_key(), Filter::default().cache_key());
    }
}
