//! Liaison-officer staffing ("armement", issue 17) in the service: the workspace's roster
//! kept in memory over the store, its changes, the alert level's changes recorded in the
//! operations log, and the live news of it all. The domain itself (shifts, rules, gap
//! report, suggestions, exports) is the `vigie-staffing` crate.
//!
//! - The plan (levels, shifts, rules, positions) is the workspace document
//!   [`PLAN_DOCUMENT`]; people, unavailability, assignments and level changes are the tables
//!   of [`store`]. Every change bumps one version in its transaction.
//! - [`Staffing::roster`] answers from memory while the stored version is the one it read
//!   (one small query), so a change made on any replica is seen by the next request of every
//!   replica; the gap report is computed from it (milliseconds for 1,300 officers).
//! - Changes are announced on the workspace's event stream (`staffing` events, relayed to the
//!   other replicas through the store) and invalidate the staffing layer's tiles.
//! - A level change takes effect at its time (now, or scheduled): [`spawn_ticker`] writes its
//!   log entry once (claimed in the store, so one replica writes it), announces it, and
//!   redraws the staffing layer when the level or the shift under way changes.

pub mod store;

use crate::store::{Store, StoreError};
use crate::tiles::{CachedTile, TileCache};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use store::{Change, Outcome};
use vigie_layers::feature::Qualification;
use vigie_layers::model::Entry;
use vigie_staffing::{Plan, Roster};

/// The workspace document holding the plan.
pub const PLAN_DOCUMENT: &str = "staffing";
/// The tag of the log entries recording level changes.
pub const LEVEL_TAG: &str = "niveau_alerte";

/// A staffing event for the live stream (`staffing`): what changed and the version after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffingEvent {
    /// `plan`, `people`, `unavailability`, `assignments`, `level`.
    pub what: String,
    /// The roster's version after the change.
    pub version: u64,
    /// The level in effect, for `level` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// A staffing event between replicas.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    origin: String,
    staffing: StaffingEvent,
}

/// A venue's point and name, for places.
#[derive(Debug, Clone)]
pub struct VenuePoint {
    /// Longitude, latitude.
    pub point: [f64; 2],
    /// Name.
    pub name: String,
}

/// The roster in memory with what it was read from.
#[derive(Debug)]
pub struct Loaded {
    /// The roster.
    pub roster: Roster,
    /// The plan document's version (0: the default plan).
    pub plan_version: u64,
    /// Venues by code, for positions placed at one.
    pub venues: HashMap<String, VenuePoint>,
}

impl Loaded {
    /// Where a position's place is (longitude, latitude) and its name.
    pub fn place(&self, place: &vigie_staffing::Place) -> Option<([f64; 2], String)> {
        match (&place.venue, place.point) {
            (Some(code), _) => {
                self.venues.get(code).map(|v| (v.point, place.label.clone().unwrap_or_else(|| v.name.clone())))
            }
            (None, Some(p)) => Some((p, place.label.clone().unwrap_or_default())),
            (None, None) => Some((self.roster.plan.room.point, self.roster.plan.room.label.clone())),
        }
    }
}

/// One workspace's staffing service.
#[derive(Debug)]
pub struct Staffing {
    store: Arc<dyn Store>,
    workspace: String,
    cache: TileCache,
    loaded: RwLock<Option<Arc<Loaded>>>,
    reload: tokio::sync::Mutex<()>,
    /// Events for the workspace's open streams.
    pub events: tokio::sync::broadcast::Sender<Arc<StaffingEvent>>,
    origin: String,
    /// The level, the shift under way and the roster's version at the ticker's last pass.
    seen: Mutex<Option<(usize, i64, u64)>>,
    /// The catalog's staffing layers (their tiles are dropped on every change).
    layers: Vec<String>,
    /// Recent answers (gap reports) by request and roster version, with their gzip made once:
    /// a room opening the same view computes and compresses it once per change.
    answers: Mutex<Vec<(String, u64, Arc<CachedTile>)>>,
    /// Held while an answer is made.
    making: tokio::sync::Mutex<()>,
}

/// Answers kept by [`Staffing::answer`].
const KEPT_ANSWERS: usize = 16;

impl Staffing {
    /// The service of `workspace` over `store`; `cache` holds the tiles of its `layers`.
    pub fn new(store: Arc<dyn Store>, workspace: &str, cache: TileCache, layers: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            store,
            workspace: workspace.to_owned(),
            cache,
            loaded: RwLock::new(None),
            reload: tokio::sync::Mutex::new(()),
            events: tokio::sync::broadcast::channel(256).0,
            origin: crate::identity::secret::hex(&crate::identity::secret::random_bytes::<8>()),
            seen: Mutex::new(None),
            layers,
            answers: Mutex::default(),
            making: tokio::sync::Mutex::const_new(()),
        })
    }

    /// The workspace.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The plan as stored (the default before one is) and its version.
    ///
    /// # Errors
    /// The store's; a stored plan that no longer parses.
    pub async fn plan(&self) -> Result<(Plan, u64), StoreError> {
        match self.store.document(PLAN_DOCUMENT).await? {
            None => Ok((Plan::default(), 0)),
            Some(d) => Ok((
                serde_json::from_str(&d.document).map_err(|e| StoreError::Corrupt {
                    what: "document",
                    id: PLAN_DOCUMENT.into(),
                    reason: e.to_string(),
                })?,
                d.version,
            )),
        }
    }

    /// The roster at the store's current version: the one in memory, or read again when any
    /// process changed it since.
    ///
    /// # Errors
    /// The store's.
    pub async fn roster(&self) -> Result<Arc<Loaded>, StoreError> {
        let version = self.store.staffing().version(&self.workspace).await?;
        if let Some(l) = self.current().filter(|l| l.roster.version == version) {
            return Ok(l);
        }
        let _one = self.reload.lock().await;
        if let Some(l) = self.current().filter(|l| l.roster.version >= version) {
            return Ok(l);
        }
        let rows = self.store.staffing().load(&self.workspace).await?;
        let (plan, plan_version) = self.plan().await?;
        let venues = self
            .store
            .venues()
            .await?
            .into_iter()
            .map(|v| (v.code.clone(), VenuePoint { point: [v.lon, v.lat], name: v.name }))
            .collect();
        let roster = Roster::new(plan, rows.people, rows.unavailable, rows.assignments, rows.levels, rows.version)
            .map_err(|e| StoreError::Corrupt { what: "document", id: PLAN_DOCUMENT.into(), reason: e })?;
        let loaded = Arc::new(Loaded { roster, plan_version, venues });
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Some(loaded.clone());
        Ok(loaded)
    }

    /// The answer kept for `key` at roster version `version`, or the one `make` gives (kept).
    /// One answer is made at a time: a room asking at once after a change waits for the first
    /// to make it, rather than each making its own.
    ///
    /// # Errors
    /// `make`'s.
    pub async fn answer<E>(
        &self,
        key: &str,
        version: u64,
        make: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<CachedTile>, E> {
        let kept = |a: &Vec<(String, u64, Arc<CachedTile>)>| {
            a.iter().find(|(k, v, _)| k == key && *v == version).map(|(_, _, b)| b.clone())
        };
        if let Some(b) = kept(&self.answers.lock().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(b);
        }
        let _one = self.making.lock().await;
        if let Some(b) = kept(&self.answers.lock().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(b);
        }
        let b = Arc::new(CachedTile::new(make()?, Vec::new()));
        let mut a = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        a.retain(|(k, v, _)| k != key && *v == version);
        if a.len() >= KEPT_ANSWERS {
            a.remove(0);
        }
        a.push((key.to_owned(), version, b.clone()));
        Ok(b)
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Writes a change; once done, its tiles are redrawn and the change announced here and on
    /// the other replicas.
    ///
    /// # Errors
    /// The store's.
    pub async fn write(&self, change: &Change<'_>, what: &str, by: &str) -> Result<Outcome, StoreError> {
        let outcome = self.write_quiet(change, by).await?;
        if let Outcome::Done { version, .. } = &outcome {
            self.changed(StaffingEvent { what: what.to_owned(), version: *version, level: None }).await;
        }
        Ok(outcome)
    }

    /// Writes a change without announcing it. When the roster in memory is the version just
    /// before it, the change is applied to it there (the indexes rebuilt: milliseconds) rather
    /// than read back from the store; otherwise the next [`Self::roster`] reads it all again.
    ///
    /// # Errors
    /// The store's.
    pub async fn write_quiet(&self, change: &Change<'_>, by: &str) -> Result<Outcome, StoreError> {
        let at = crate::now_ms();
        let outcome = self.store.staffing().write(&self.workspace, change, by, at).await?;
        if let Outcome::Done { version, ids } = &outcome
            && let Some(cur) = self.current().filter(|c| c.roster.version + 1 == *version)
            && let Some(roster) = applied(&cur.roster, change, ids, by, at, *version)
        {
            let next = Arc::new(Loaded { roster, plan_version: cur.plan_version, venues: cur.venues.clone() });
            let mut slot = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
            // Unless a later version got there meanwhile.
            if slot.as_ref().is_none_or(|l| l.roster.version < *version) {
                *slot = Some(next);
            }
        }
        Ok(outcome)
    }

    /// After a change: the staffing layer's tiles dropped, the event announced here and sent
    /// to the other replicas.
    pub async fn changed(&self, event: StaffingEvent) {
        self.invalidate();
        let _ = self.events.send(Arc::new(event.clone()));
        let m = Message { origin: self.origin.clone(), staffing: event };
        if let Ok(text) = serde_json::to_string(&m)
            && let Err(e) = self.store.broadcast(&text).await
        {
            tracing::warn!(error = %e, "the other replicas could not be told of a staffing change");
        }
    }

    fn invalidate(&self) {
        let world = geo::Rect::new(geo::coord! { x: -2.1e7, y: -2.1e7 }, geo::coord! { x: 2.1e7, y: 2.1e7 });
        for layer in &self.layers {
            self.cache.invalidate_layer(layer, &[world]);
        }
    }

    /// Takes a message of another replica: `true` when it was a staffing one (announced here,
    /// its tiles dropped).
    pub fn receive(&self, text: &str) -> bool {
        let Ok(m) = serde_json::from_str::<Message>(text) else { return false };
        if m.origin != self.origin {
            self.invalidate();
            let _ = self.events.send(Arc::new(m.staffing));
        }
        true
    }
}

/// `roster` with `change` (written as version `version`, creating `ids`) applied; `None` when
/// it cannot be applied in memory (the plan changed: read everything again).
fn applied(roster: &Roster, change: &Change<'_>, ids: &[u64], by: &str, at: i64, version: u64) -> Option<Roster> {
    use vigie_staffing::{Assignment, LevelChange, Status, Unavailability};
    let (mut people, mut away, mut assignments, mut levels) =
        (roster.people.clone(), roster.unavailable.clone(), roster.assignments.clone(), roster.levels.clone());
    let mut set_status = |id: u64, to: Status| {
        if let Some(a) = assignments.iter_mut().find(|a| a.id == id) {
            a.status = to;
            by.clone_into(&mut a.by);
            a.at = at;
        }
    };
    match change {
        Change::Touch => return None,
        Change::People(list) => {
            for p in *list {
                match people.iter_mut().find(|x| x.id == p.id) {
                    Some(x) => x.clone_from(p),
                    None => people.push(p.clone()),
                }
            }
        }
        Change::RemovePerson(id) => {
            people.retain(|p| p.id != *id);
            away.retain(|u| u.person != *id);
            assignments.retain(|a| a.person != *id);
        }
        Change::Away { person, start, end, reason } => away.push(Unavailability {
            id: *ids.first()?,
            person: (*person).to_owned(),
            start: *start,
            end: *end,
            reason: (*reason).to_owned(),
        }),
        Change::RemoveAway(id) => away.retain(|u| u.id != *id),
        Change::Assign(list) => {
            for (a, id) in list.iter().zip(ids) {
                assignments.push(Assignment {
                    id: *id,
                    person: a.person.clone(),
                    position: a.position.clone(),
                    day: a.day.clone(),
                    shift: a.shift.clone(),
                    start: a.start,
                    end: a.end,
                    status: a.status,
                    by: by.to_owned(),
                    at,
                });
            }
        }
        Change::Status { id, to, .. } => set_status(*id, *to),
        Change::Confirm(_) => {
            for id in ids {
                set_status(*id, Status::Confirmed);
            }
        }
        Change::RemoveAssignment(id) => assignments.retain(|a| a.id != *id),
        Change::Level { level, name, at: from, reason } => levels.push(LevelChange {
            id: *ids.first()?,
            level: *level,
            name: (*name).to_owned(),
            at: *from,
            reason: (*reason).to_owned(),
            by: by.to_owned(),
            entry: None,
        }),
        Change::CancelLevel { id, .. } => levels.retain(|l| l.id != *id),
        Change::LevelLogged { id, entry } => {
            let l = levels.iter_mut().find(|l| l.id == *id)?;
            l.entry = Some(*entry);
        }
    }
    Roster::new(roster.plan.clone(), people, away, assignments, levels, version).ok()
}

/// Severity of the log entry recording a move to `level` of `levels`: 0 at the lowest, 4 at
/// the highest.
fn severity(level: usize, levels: usize) -> u8 {
    ((level * 4) / levels.saturating_sub(1).max(1)).min(4) as u8
}

/// Writes the log entry of every level change now in effect that has none yet, once even
/// with replicas (each change is claimed in the store first), and announces it. Returns how
/// many were written.
///
/// # Errors
/// The store's, the log's.
pub async fn log_due_levels(state: &crate::http::Shared, now: i64) -> Result<usize, StoreError> {
    let staffing = &state.staffing;
    let loaded = staffing.roster().await?;
    let roster = &loaded.roster;
    let mut written = 0;
    for (i, change) in roster.levels.iter().enumerate() {
        if change.at > now || change.entry.is_some() {
            continue;
        }
        let claim = Change::LevelLogged { id: change.id, entry: 0 };
        let by = change.by.as_str();
        if !matches!(staffing.write_quiet(&claim, by).await?, Outcome::Done { .. }) {
            continue;
        }
        let before = if i == 0 { roster.plan.levels[0].clone() } else { roster.levels[i - 1].name.clone() };
        let plan = &roster.plan;
        let entry = Entry {
            id: 0,
            version: 1,
            title: format!("Niveau d'alerte : {} (était {})", change.name, before),
            body: format!(
                "{}\n\nDécidé par {} ; en vigueur le {} ({}).",
                change.reason,
                change.by,
                roster.pattern.local(change.at).replace('T', " à "),
                roster.pattern.zone_name()
            ),
            tags: vec![LEVEL_TAG.to_owned()],
            severity: severity(change.level, plan.levels.len()),
            qualification: Qualification::Confirmed,
            occurred_at: change.at,
            reported_at: now,
            recorded_at: now,
            author: change.by.clone(),
            source: "vigie · armement".into(),
            location: Some(plan.room.label.clone()),
            links: Vec::new(),
            geometry: geo::Geometry::Point(geo::Point::new(plan.room.point[0], plan.room.point[1])),
            deleted: false,
            attachments: Vec::new(),
        };
        let commit = state.courante.create(entry).await?;
        let record = Change::LevelLogged { id: change.id, entry: commit.entry.id };
        if let Outcome::Done { version, .. } = staffing.write_quiet(&record, by).await? {
            staffing.changed(StaffingEvent { what: "level".into(), version, level: Some(change.name.clone()) }).await;
        }
        written += 1;
    }
    Ok(written)
}

/// Every 2 s, for every served workspace: the log entries of level changes now in effect
/// (scheduled ones), and the staffing layer redrawn when the level or the shift under way
/// changes, or when the roster changed without this replica being told (a lost message).
pub fn spawn_ticker(workspaces: &Arc<crate::http::Workspaces>) -> tokio::task::JoinHandle<()> {
    crate::spawn_every(workspaces, std::time::Duration::from_secs(2), |w| async move {
        for state in w.all() {
            let now = crate::now_ms();
            let loaded = match log_due_levels(&state, now).await {
                Ok(_) => state.staffing.roster().await,
                Err(e) => Err(e),
            };
            let loaded = match loaded {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(workspace = %state.config.workspace, error = %e, "staffing: cannot read the roster or record a level change");
                    continue;
                }
            };
            let r = &loaded.roster;
            let now_seen = (r.level_at(now), r.pattern.shift_at(now).map_or(0, |s| s.start), r.version);
            let before = state.staffing.seen.lock().unwrap_or_else(PoisonError::into_inner).replace(now_seen);
            let Some(before) = before.filter(|b| *b != now_seen) else { continue };
            state.staffing.invalidate();
            if before.0 != now_seen.0 || before.1 != now_seen.1 {
                let what = if before.0 == now_seen.0 { "shift" } else { "level" };
                let level = r.plan.levels.get(now_seen.0).cloned();
                let _ = state.staffing.events.send(Arc::new(StaffingEvent {
                    what: what.into(),
                    version: r.version,
                    level,
                }));
            }
        }
    })
}

/// Demo mode: a plan of 40 positions over the demo venues and the crisis room, and 160
/// officers of 8 directorates, written once into a workspace that has no staffing yet.
///
/// # Errors
/// The store's.
pub async fn seed_demo(store: &dyn Store, workspace: &str) -> Result<bool, StoreError> {
    if store.staffing().version(workspace).await? > 0 || store.document(PLAN_DOCUMENT).await?.is_some() {
        return Ok(false);
    }
    let venues: Vec<String> = store.venues().await?.into_iter().map(|v| v.code).collect();
    let size = vigie_staffing::demo::Size { people: 160, directorates: 8, positions: 40, skills: 4 };
    let (plan, people) = {
        let mut rng = vigie_layers::demo::Rng::new(2024);
        vigie_staffing::demo::instance(&mut || rng.next_u64(), &size, &venues)
    };
    let document = serde_json::to_string(&plan).map_err(|e| StoreError::Corrupt {
        what: "document",
        id: PLAN_DOCUMENT.into(),
        reason: e.to_string(),
    })?;
    if store.put_document(PLAN_DOCUMENT, 0, &document, "demo").await?.is_none() {
        return Ok(false);
    }
    store.staffing().write(workspace, &Change::People(&people), "demo", crate::now_ms()).await?;
    Ok(true)
}

/// What a situation report says of staffing: the level at the end of its period, the changes
/// during it, and the gaps of the 24 hours that follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportPart {
    /// The level in effect at the end of the period.
    pub level: String,
    /// Level changes in effect during the period: local time, level, reason, who.
    pub changes: Vec<[String; 4]>,
    /// The 24 hours after the period: shifts counted.
    pub shifts: usize,
    /// People needed, confirmed, short over them.
    pub needed: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Short.
    pub short: u64,
    /// The directorates short, most short first (at most 10): name, needed, short.
    pub by_directorate: Vec<(String, u64, u64)>,
    /// The gap report this comes from.
    pub query: String,
}

/// The staffing part of a report of period `[start, end)`; `None` when the workspace staffs no
/// position.
pub fn report_part(loaded: &Loaded, period: [i64; 2]) -> Option<ReportPart> {
    let r = &loaded.roster;
    if r.plan.positions.is_empty() {
        return None;
    }
    let end = period[1];
    let level = r.level_at(end - 1);
    let changes = r
        .levels
        .iter()
        .filter(|c| c.at >= period[0] && c.at < end)
        .map(|c| [r.pattern.local(c.at).replace('T', " "), c.name.clone(), c.reason.clone(), c.by.clone()])
        .collect();
    let day = r.pattern.day_of(end)?;
    let next = day.tomorrow().ok()?;
    let shifts: Vec<vigie_staffing::Shift> =
        r.pattern.shifts(day, next).into_iter().filter(|s| s.start >= end && s.start < end + 86_400_000).collect();
    let report = r.gaps(level, &shifts, 0);
    let mut by_directorate: Vec<(String, u64, u64)> = report
        .by_directorate
        .iter()
        .filter(|g| g.totals.short > 0)
        .map(|g| (g.key.clone(), g.totals.needed, g.totals.short))
        .collect();
    by_directorate.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    by_directorate.truncate(10);
    Some(ReportPart {
        level: r.plan.levels[level].clone(),
        changes,
        shifts: shifts.len(),
        needed: report.totals.needed,
        confirmed: report.totals.confirmed,
        short: report.totals.short,
        by_directorate,
        query: format!("/api/staffing/gaps?level={level}&from={day}&days=2"),
    })
}
