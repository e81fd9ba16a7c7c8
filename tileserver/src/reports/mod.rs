//! Situation reports ("points de situation", issue 16): a workspace's battle rhythm, its
//! template of sections, reports written together section by section, the parts compiled
//! from the store (figures, significant events, hotspots, sources, maps), the workflow from
//! draft to published, and the outputs (HTML, PDF, Atom).
//!
//! - [`Settings`]: the workspace's report settings (document `reports`): time zone and due
//!   times, title, classification marking, area, sections with their owners, desks, maps,
//!   the significance and hotspot rules.
//! - [`schedule`]: due times as instants, daylight-saving safe; [`spawn_scheduler`] keeps a
//!   draft ready for the next due time of every workspace.
//! - [`store`]: the reports and their sections' texts (versioned: a stale edit is refused).
//! - [`compile`]: the compiled parts, live while a report is a draft or in review, frozen
//!   into it when it is validated.
//! - [`render`]: the report as a [`vigie_paper::Document`] (HTML and PDF), the diff of a
//!   correction, the Atom feed.
//!
//! Workflow: draft → review → validated → published (an editor moves it back from review or
//! validated). Only editors validate and publish; sections are edited while the report is a
//! draft or in review, by the section's owners (a role and those above it, or the members of
//! a desk) and by editors. A published report is immutable: a correction is a new edition of
//! it (`POST /api/reports/{id}/correct`), published with the diff of its text and figures.

pub mod compile;
pub mod render;
pub mod schedule;
pub mod store;

use crate::identity::{Access, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The workspace document holding the report settings.
pub const SETTINGS_DOCUMENT: &str = "reports";
/// Most sections in a template.
pub const MAX_SECTIONS: usize = 30;
/// Most maps in a report.
pub const MAX_MAPS: usize = 6;
/// Most characters of a section's text.
pub const MAX_SECTION_CHARS: usize = 50_000;
/// Most characters of a title or a marking.
pub const MAX_TITLE_CHARS: usize = 200;
/// How long a presence (someone editing a section) lasts without a new heartbeat.
pub const PRESENCE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

fn paris() -> String {
    "Europe/Paris".into()
}

fn six_times() -> Vec<String> {
    ["06:00", "10:00", "13:00", "16:00", "19:00", "22:00"].map(String::from).to_vec()
}

fn default_title() -> String {
    "Point de situation".into()
}

fn three() -> u8 {
    3
}

fn section(id: &str, title: &str, owner: Owner) -> SectionDef {
    SectionDef { id: id.into(), title: title.into(), owner }
}

fn default_sections() -> Vec<SectionDef> {
    // Desks are the workspace's own (an admin names their members): the defaults use roles.
    let role = |r| Owner { role: Some(r), desk: None };
    vec![
        section("synthesis", "Synthèse", role(Role::Editor)),
        section("public-order", "Ordre public", role(Role::Analyst)),
        section("transport", "Transports", role(Role::Analyst)),
        section("health", "Santé", role(Role::Analyst)),
        section("cyber", "Cyber", role(Role::Analyst)),
        section("venues", "Sites", role(Role::Analyst)),
        section("staffing", "Armement", role(Role::StaffingManager)),
    ]
}

fn default_maps() -> Vec<MapDef> {
    vec![MapDef { title: "Situation de la période".into(), region: None, layers: None, width: 1024, height: 768 }]
}

/// Who writes a section: members with at least `role`, or the members of `desk` (editors
/// always may). Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    /// A role (and those above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A desk of [`Settings::desks`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk: Option<String>,
}

/// A section of the template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionDef {
    /// Id: lower-case letters, digits and `-`, 1 to 40.
    pub id: String,
    /// Heading.
    pub title: String,
    /// Who writes it.
    pub owner: Owner,
}

/// A map of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapDef {
    /// Caption.
    pub title: String,
    /// A region as region queries take it (`{"bbox": [...]}`, `{"area": "departements:75"}`,
    /// `{"venue": "STADE"}`…); none: the report's area, else the box of the period's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Map<String, Value>>,
    /// Layer ids, comma-separated; none: those the web view shows at first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<String>,
    /// Pixels.
    #[serde(default = "map_width")]
    pub width: u32,
    /// Pixels.
    #[serde(default = "map_height")]
    pub height: u32,
}

fn map_width() -> u32 {
    1024
}

fn map_height() -> u32 {
    768
}

/// How new hotspots are told from the usual activity (see [`compile`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotspotRule {
    /// H3 resolution of the cells (8: about 0.7 km²).
    pub resolution: u8,
    /// Days before the period making the trailing average.
    pub baseline_days: u32,
    /// Family-wise false-alarm rate (Bonferroni over the cells tested).
    pub alpha: f64,
    /// Fewest entries in the period for a cell to be tested.
    pub min_count: u32,
}

impl Default for HotspotRule {
    fn default() -> Self {
        Self { resolution: 8, baseline_days: 7, alpha: 0.01, min_count: 3 }
    }
}

/// A workspace's report settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// IANA time zone of the due times.
    #[serde(default = "paris")]
    pub timezone: String,
    /// Local times of day reports are due (`HH:MM`); empty: ad-hoc reports only.
    #[serde(default = "six_times")]
    pub times: Vec<String>,
    /// Title of a report, followed by its due time.
    #[serde(default = "default_title")]
    pub title: String,
    /// Marking printed on every page (`DIFFUSION RESTREINTE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// The region reports cover, as region queries take it; none: the whole workspace (its
    /// territory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Map<String, Value>>,
    /// The template: sections in order.
    #[serde(default = "default_sections")]
    pub sections: Vec<SectionDef>,
    /// Desks: their members' account names.
    #[serde(default)]
    pub desks: BTreeMap<String, Vec<String>>,
    /// The maps of a report.
    #[serde(default = "default_maps")]
    pub maps: Vec<MapDef>,
    /// Lowest severity of a significant event (confirmed entries only).
    #[serde(default = "three")]
    pub significant_severity: u8,
    /// The hotspot test.
    #[serde(default)]
    pub hotspots: HotspotRule,
}

impl Default for Settings {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

/// A problem with settings: the field and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path.
    pub field: String,
    /// What to fix.
    pub reason: String,
}

fn problem(field: impl Into<String>, reason: impl Into<String>) -> Problem {
    Problem { field: field.into(), reason: reason.into() }
}

/// Whether `id` is a section or desk id: lower-case ASCII letters, digits and `-`, 1 to 40.
pub fn is_id(id: &str) -> bool {
    (1..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Settings {
    /// The rules that need no workspace data (regions are checked by the caller).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Err(e) = schedule::Rhythm::new(&self.timezone, &self.times) {
            out.push(problem(if e.starts_with("timezone") { "timezone" } else { "times" }, e));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE_CHARS {
            out.push(problem("title", format!("1 to {MAX_TITLE_CHARS} characters")));
        }
        if let Some(c) = &self.classification
            && (c.trim().is_empty() || c.chars().count() > MAX_TITLE_CHARS)
        {
            out.push(problem("classification", format!("1 to {MAX_TITLE_CHARS} characters, or leave it out")));
        }
        if self.sections.is_empty() || self.sections.len() > MAX_SECTIONS {
            out.push(problem("sections", format!("1 to {MAX_SECTIONS} sections")));
        }
        for (i, s) in self.sections.iter().enumerate() {
            if !is_id(&s.id) {
                out.push(problem(format!("sections[{i}].id"), "lower-case letters, digits and '-', 1 to 40"));
            } else if self.sections[..i].iter().any(|o| o.id == s.id) {
                out.push(problem(format!("sections[{i}].id"), format!("'{}' is used twice", s.id)));
            }
            if s.title.trim().is_empty() || s.title.chars().count() > MAX_TITLE_CHARS {
                out.push(problem(format!("sections[{i}].title"), format!("1 to {MAX_TITLE_CHARS} characters")));
            }
            match (&s.owner.role, &s.owner.desk) {
                (Some(_), None) => {}
                (None, Some(d)) if self.desks.contains_key(d) => {}
                (None, Some(d)) => out.push(problem(
                    format!("sections[{i}].owner.desk"),
                    format!("no desk '{}' in desks", d.chars().take(40).collect::<String>()),
                )),
                _ => out.push(problem(format!("sections[{i}].owner"), "exactly one of role or desk")),
            }
        }
        for (d, members) in &self.desks {
            if !is_id(d) {
                out.push(problem(format!("desks.{d}"), "a desk id is lower-case letters, digits and '-', 1 to 40"));
            }
            if members.len() > 500 {
                out.push(problem(format!("desks.{d}"), "at most 500 members"));
            }
        }
        if self.maps.len() > MAX_MAPS {
            out.push(problem("maps", format!("at most {MAX_MAPS} maps")));
        }
        for (i, m) in self.maps.iter().enumerate() {
            if m.title.trim().is_empty() || m.title.chars().count() > MAX_TITLE_CHARS {
                out.push(problem(format!("maps[{i}].title"), format!("1 to {MAX_TITLE_CHARS} characters")));
            }
            if vigie_staticmap::Size::new(m.width, m.height).is_err() {
                out.push(problem(
                    format!("maps[{i}]"),
                    format!(
                        "width and height from {} to {} pixels",
                        vigie_staticmap::view::MIN_SIDE_PX,
                        vigie_staticmap::view::MAX_SIDE_PX
                    ),
                ));
            }
        }
        if self.significant_severity > 4 {
            out.push(problem("significant_severity", "a severity from 0 to 4"));
        }
        let h = &self.hotspots;
        if !(5..=10).contains(&h.resolution) {
            out.push(problem("hotspots.resolution", "an H3 resolution from 5 to 10"));
        }
        if !(1..=60).contains(&h.baseline_days) {
            out.push(problem("hotspots.baseline_days", "1 to 60 days"));
        }
        if !(h.alpha > 0.0 && h.alpha < 0.5) {
            out.push(problem("hotspots.alpha", "a probability between 0 and 0.5"));
        }
        if !(1..=1000).contains(&h.min_count) {
            out.push(problem("hotspots.min_count", "1 to 1000"));
        }
        out
    }

    /// The rhythm (settings that passed [`Settings::problems`] always have one).
    pub fn rhythm(&self) -> Option<schedule::Rhythm> {
        schedule::Rhythm::new(&self.timezone, &self.times).ok()
    }

    /// Whether the asker, the account `person` (a token's creator), may write section `def`
    /// (its owners, and editors).
    pub fn may_write(&self, def: &SectionDef, access: &Access, person: Option<&str>) -> bool {
        if access.allows(Role::Editor) {
            return true;
        }
        match (&def.owner.role, &def.owner.desk) {
            (Some(role), _) => access.allows(*role),
            (None, Some(desk)) => {
                let Some(name) = person else { return false };
                access.allows(Role::Contributor) && self.desks.get(desk).is_some_and(|m| m.iter().any(|n| n == name))
            }
            (None, None) => false,
        }
    }
}

/// Where a report is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being written; figures live.
    Draft,
    /// Being reviewed; figures live.
    Review,
    /// Figures frozen; text closed; awaiting publication.
    Validated,
    /// Published: immutable.
    Published,
}

impl Status {
    /// As stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Review => "review",
            Self::Validated => "validated",
            Self::Published => "published",
        }
    }

    /// Parses a stored or requested status.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Review, Self::Validated, Self::Published].into_iter().find(|st| st.as_str() == s)
    }

    /// Whether sections may be written.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Draft | Self::Review)
    }

    /// The role needed to move from `self` to `to`, `None` when the move is not allowed.
    pub fn move_needs(self, to: Status) -> Option<Role> {
        match (self, to) {
            (Self::Draft, Self::Review) => Some(Role::Contributor),
            (Self::Review, Self::Draft | Self::Validated) | (Self::Validated, Self::Review | Self::Published) => {
                Some(Role::Editor)
            }
            _ => None,
        }
    }
}

/// One step of a report's workflow: who moved it where, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The status reached.
    pub status: Status,
    /// Who.
    pub by: String,
    /// When, epoch ms.
    pub at: i64,
}

/// How a report came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Due at a time of the rhythm.
    Scheduled,
    /// Started by someone.
    Adhoc,
}

impl Kind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Adhoc => "adhoc",
        }
    }
}

/// Who is editing which section of which report now (in memory, per workspace state;
/// announced on the event stream).
#[derive(Debug, Default)]
pub struct Presence {
    seen: std::sync::Mutex<BTreeMap<(u64, String), (String, std::time::Instant)>>,
}

/// One person at work on a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Present {
    /// Who.
    pub who: String,
    /// The section they edit.
    pub section: String,
}

impl Presence {
    /// Notes that `who` edits `section` of `report` (`None`: left it). Returns whether that
    /// changed what others see.
    pub fn note(&self, report: u64, who: &str, section: Option<&str>) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (report, who.to_owned());
        match section {
            Some(s) => {
                let before = seen.insert(key, (s.to_owned(), std::time::Instant::now()));
                before.is_none_or(|(old, at)| old != s || at.elapsed() > PRESENCE_TTL)
            }
            None => seen.remove(&key).is_some(),
        }
    }

    /// Drops the presences older than [`PRESENCE_TTL`]; returns the reports that lost one.
    pub fn sweep(&self) -> Vec<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut gone: Vec<u64> =
            seen.iter().filter(|(_, (_, at))| at.elapsed() > PRESENCE_TTL).map(|((r, _), _)| *r).collect();
        seen.retain(|_, (_, at)| at.elapsed() <= PRESENCE_TTL);
        gone.dedup();
        gone
    }

    /// Who is at work on `report` (presences older than [`PRESENCE_TTL`] dropped).
    pub fn of(&self, report: u64) -> Vec<Present> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, (_, at)| at.elapsed() <= PRESENCE_TTL);
        seen.iter()
            .filter(|((r, _), _)| *r == report)
            .map(|((_, who), (section, _))| Present { who: who.clone(), section: section.clone() })
            .collect()
    }
}

/// A report event for the live stream: `report.created`, `report.section`, `report.status`,
/// `report.published`, `report.presence`.
#[derive(Debug, Clone, Serialize)]
pub struct ReportEvent {
    /// Event type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The report.
    pub report: u64,
    /// Details (section and version, status, who…).
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

/// What a workspace state keeps of its reports: presences and the live channel.
#[derive(Debug)]
pub struct Live {
    /// Who edits what.
    pub presence: Presence,
    /// Report events (sent to every open event stream of the workspace).
    pub events: tokio::sync::broadcast::Sender<Arc<ReportEvent>>,
    /// This state's name in the messages between replicas (its own come back to it).
    origin: String,
    /// Drafts' live parts recently compiled.
    compiled: std::sync::Mutex<Vec<(LiveKey, std::time::Instant, Arc<compile::Compiled>)>>,
}

/// What a draft's live parts were compiled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveKey {
    /// The report.
    pub report: u64,
    /// Its version (status changes).
    pub version: u32,
    /// The settings' version.
    pub settings: u64,
    /// The log's last applied event.
    pub seq: u64,
    /// The staffing roster's version.
    pub staffing: u64,
}

/// Drafts whose live parts are kept at once.
const KEPT_COMPILED: usize = 16;

impl Default for Live {
    fn default() -> Self {
        Self {
            presence: Presence::default(),
            events: tokio::sync::broadcast::channel(256).0,
            origin: crate::identity::secret::hex(&crate::identity::secret::random_bytes::<8>()),
            compiled: std::sync::Mutex::default(),
        }
    }
}

/// The event kinds, as `&'static str` (events from other replicas are matched against them).
const KINDS: [&str; 5] = ["report.created", "report.section", "report.status", "report.published", "report.presence"];

/// A report event or a presence, between replicas.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    origin: String,
    kind: String,
    report: u64,
    detail: Map<String, Value>,
    /// A presence noted: who, and the section (`None`: left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    presence: Option<(String, Option<String>)>,
}

impl Live {
    /// The live parts compiled for `key` less than `fresh` ago.
    pub fn cached(&self, key: &LiveKey, fresh: std::time::Duration) -> Option<compile::Compiled> {
        let kept = self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter().find(|(k, at, _)| k == key && at.elapsed() < fresh).map(|(_, _, c)| c.as_ref().clone())
    }

    /// Keeps the live parts compiled for `key` (replacing the report's older ones).
    pub fn keep(&self, key: LiveKey, compiled: &compile::Compiled) {
        let mut kept = self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.retain(|(k, _, _)| k.report != key.report);
        if kept.len() >= KEPT_COMPILED {
            kept.remove(0);
        }
        kept.push((key, std::time::Instant::now(), Arc::new(compiled.clone())));
    }

    /// Announces an event to this process's streams (no-op without listeners).
    pub fn announce(&self, kind: &'static str, report: u64, detail: Value) {
        let detail = match detail {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let _ = self.events.send(Arc::new(ReportEvent { kind, report, detail }));
    }

    /// Announces an event here and, through the store, on the other replicas.
    pub async fn tell(&self, store: &dyn crate::store::Store, kind: &'static str, report: u64, detail: Value) {
        self.announce(kind, report, detail.clone());
        let detail = match detail {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.send(store, Message { origin: self.origin.clone(), kind: kind.into(), report, detail, presence: None })
            .await;
    }

    /// Notes a presence (see [`Presence::note`]) and, when it changes what others see,
    /// announces who is at work on the report here and on the other replicas.
    pub async fn note_presence(&self, store: &dyn crate::store::Store, report: u64, who: &str, section: Option<&str>) {
        if self.presence.note(report, who, section) {
            self.announce_presence(report);
            let presence = Some((who.to_owned(), section.map(str::to_owned)));
            let m = Message {
                origin: self.origin.clone(),
                kind: "report.presence".into(),
                report,
                detail: Map::new(),
                presence,
            };
            self.send(store, m).await;
        }
    }

    fn announce_presence(&self, report: u64) {
        self.announce("report.presence", report, serde_json::json!({"present": self.presence.of(report)}));
    }

    async fn send(&self, store: &dyn crate::store::Store, m: Message) {
        let Ok(text) = serde_json::to_string(&m) else { return };
        if let Err(e) = store.broadcast(&text).await {
            tracing::warn!(error = %e, "the other replicas could not be told of a report event");
        }
    }

    /// Takes a message of another replica: its event announced here, its presence noted.
    fn receive(&self, text: &str) {
        let Ok(m) = serde_json::from_str::<Message>(text) else {
            tracing::warn!("an unreadable message between replicas was ignored");
            return;
        };
        if m.origin == self.origin {
            return;
        }
        if let Some((who, section)) = &m.presence {
            if self.presence.note(m.report, who, section.as_deref()) {
                self.announce_presence(m.report);
            }
            return;
        }
        if let Some(kind) = KINDS.iter().find(|k| **k == m.kind) {
            let _ = self.events.send(Arc::new(ReportEvent { kind, report: m.report, detail: m.detail }));
        }
    }
}

/// Relays the messages of the other replicas (report events and presences, staffing changes)
/// to a workspace state's streams, for as long as the state lives (it is not kept alive by
/// this).
pub fn spawn_relay(state: &Arc<crate::http::Shared>) {
    let Some(mut messages) = state.store.messages() else { return };
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        while let Some(text) = messages.recv().await {
            let Some(state) = state.upgrade() else { return };
            if !state.staffing.receive(&text) {
                state.reports.receive(&text);
            }
        }
    });
}

/// Keeps, for every served workspace, a draft ready for its next due time (and one for the
/// time just past, when the service was down then): every 20 s, idempotent (a due time has
/// one report, even with replicas). Expired presences are announced on the same pass.
pub fn spawn_scheduler(workspaces: &Arc<crate::http::Workspaces>) -> tokio::task::JoinHandle<()> {
    crate::spawn_every(workspaces, std::time::Duration::from_secs(20), |w| async move {
        for state in w.all() {
            // A tab closed without saying so: its presence expires, and the others are told.
            for report in state.reports.presence.sweep() {
                let present = state.reports.presence.of(report);
                state.reports.announce("report.presence", report, serde_json::json!({"present": present}));
            }
            if let Err(e) = crate::http::reports::ensure_scheduled(&state, crate::now_ms()).await {
                tracing::warn!(workspace = %state.config.workspace, error = %e, "cannot prepare the next situation report");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_settings_pass_their_own_rules() {
        let s = Settings::default();
        assert_eq!(s.times.len(), 6);
        assert_eq!(s.problems(), vec![]);
    }

    #[test]
    fn settings_problems_name_the_field() {
        let s: Settings = serde_json::from_value(serde_json::json!({
            "timezone": "Mars/Olympus",
            "sections": [{"id": "A b", "title": "", "owner": {}}, {"id": "x", "title": "X", "owner": {"desk": "nope"}}],
            "maps": [{"title": "m", "width": 10, "height": 10}],
            "hotspots": {"alpha": 2.0}
        }))
        .unwrap();
        let fields: Vec<String> = s.problems().into_iter().map(|p| p.field).collect();
        for f in [
            "timezone",
            "sections[0].id",
            "sections[0].title",
            "sections[0].owner",
            "sections[1].owner.desk",
            "maps[0]",
            "hotspots.alpha",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
        assert!(serde_json::from_value::<Settings>(serde_json::json!({"colour": 1})).is_err(), "unknown field");
    }

    #[test]
    fn the_workflow_moves_one_step_at_a_time_and_editors_validate() {
        assert_eq!(Status::Draft.move_needs(Status::Review), Some(Role::Contributor));
        assert_eq!(Status::Review.move_needs(Status::Validated), Some(Role::Editor));
        assert_eq!(Status::Validated.move_needs(Status::Published), Some(Role::Editor));
        assert_eq!(Status::Draft.move_needs(Status::Published), None);
        assert_eq!(Status::Published.move_needs(Status::Draft), None, "published is final");
        assert!(!Status::Validated.is_open());
    }

    #[test]
    fn live_parts_are_reused_only_for_the_same_log_report_and_settings() {
        let live = Live::default();
        let c = compile::Compiled {
            computed_at: 1,
            period: [0, 1],
            area: None,
            previous: None,
            figures: compile::Figures::default(),
            significant: Vec::new(),
            significant_more: 0,
            significant_query: String::new(),
            hotspots: Vec::new(),
            hotspot_method: String::new(),
            hotspot_cells_tested: 0,
            sources: Vec::new(),
            maps: Vec::new(),
            staffing: None,
        };
        let key = LiveKey { report: 1, version: 1, settings: 0, seq: 10, staffing: 0 };
        let long = std::time::Duration::from_secs(30);
        assert!(live.cached(&key, long).is_none());
        live.keep(key, &c);
        assert_eq!(live.cached(&key, long), Some(c.clone()));
        assert!(live.cached(&LiveKey { seq: 11, ..key }, long).is_none(), "the log moved");
        assert!(live.cached(&LiveKey { version: 2, ..key }, long).is_none(), "the report moved");
        assert!(live.cached(&LiveKey { settings: 1, ..key }, long).is_none(), "the settings changed");
        assert!(live.cached(&LiveKey { staffing: 1, ..key }, long).is_none(), "the roster changed");
        assert!(live.cached(&key, std::time::Duration::ZERO).is_none(), "too old");
        live.keep(LiveKey { seq: 11, ..key }, &c);
        assert!(live.cached(&key, long).is_none(), "one entry per report");
    }

    #[test]
    fn presence_expires_and_says_when_it_changes() {
        let p = Presence::default();
        assert!(p.note(1, "alice", Some("health")));
        assert!(!p.note(1, "alice", Some("health")), "a heartbeat changes nothing");
        assert!(p.note(1, "alice", Some("cyber")));
        assert!(p.note(1, "bob", Some("cyber")));
        assert_eq!(p.of(1).len(), 2);
        assert!(p.of(2).is_empty());
        assert!(p.note(1, "bob", None));
        assert_eq!(p.of(1), vec![Present { who: "alice".into(), section: "cyber".into() }]);
        assert!(p.sweep().is_empty(), "nothing expired yet");
    }
}
