//! The main courante service: writes go to the store first; only committed changes reach the
//! index, the tile cache and live subscribers, strictly in event order.
//!
//! Every committed change carries a gap-free event `seq`. The applier applies changes in `seq`
//! order whatever order the writers finish in: the index update, then the invalidation of the
//! tiles the old and new geometry touch, then the event to subscribers. A writer answers once
//! its own change is applied, so the next tile request shows it. If a change is committed but
//! its writer never hands it over (the request task died), a watchdog reads the missing events
//! back from the store: nothing committed is ever left out of the index.
//!
//! # Locks
//! The applier's mutex orders applications; under it run the engine's update (its own locks,
//! one at a time, see [`vigie_layers::Engine`]) and the tile cache's invalidation (its index
//! lock, then moka outside it; moka's eviction listener takes no lock). Nothing takes these
//! in the other order: renders take engine locks and the cache index, never the applier; the
//! cache never holds its index lock while it renders. No store call and no `await` happens
//! under the applier's mutex: the writers commit first, then hand their change over.
//!
//! Creations are group-committed: one writer task takes every creation waiting when a
//! transaction ends and commits them together (ids and seqs in queue order within a group), so
//! concurrent writers share a transaction instead of queueing for one each. A store whose
//! commits are round trips to a server (PostGIS) may have several groups in flight at once
//! (`database.commits_in_flight`); the store numbers them in commit order. Each writer still
//! answers only after its own creation is committed and applied.

use crate::activity::{Activity, OpKind};
use crate::metrics::Histogram;
use crate::store::{Change, ChangeError, Commit, Event, EventDraft, EventKind, Store, StoreError};
use crate::tiles::TileCache;
use geo::{BoundingRect, Rect};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use vigie_layers::engine::{ENTRIES, Touched};
use vigie_layers::model::{Entry, Interner};
use vigie_layers::scope::Scope;
use vigie_layers::tile::MAX_ZOOM;
use vigie_layers::{Engine, Feature};

/// Live events kept for slow subscribers before they must catch up from the store.
const LIVE_BUFFER: usize = 4096;
/// How long a writer waits for its change to be applied before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// How often the watchdog looks for committed changes nobody applied.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(500);
/// Most creations committed in one transaction.
const GROUP_MAX: usize = 256;
/// Creations queued for the group writer before writers wait for room.
const GROUP_QUEUE: usize = 4096;

/// A creation waiting for the group writer.
struct PendingCreate {
    entry: Entry,
    draft: EventDraft,
    done: oneshot::Sender<Result<Commit, StoreError>>,
}

/// A change as the index took it: its event, and the entry's indexed feature before and
/// after (WGS84 in `lonlat`; `None` where it was not, or is no longer, in the index). What a
/// stream narrowed to a territory needs to tell an entry that enters, stays or leaves.
#[derive(Debug)]
pub struct Applied {
    /// The event.
    pub event: Event,
    /// The entry before the change.
    pub before: Option<Arc<Feature>>,
    /// The entry after the change.
    pub after: Option<Arc<Feature>>,
}

struct Applier {
    /// Next seq to apply.
    next: u64,
    /// Changes committed out of order, waiting for their turn.
    pending: BTreeMap<u64, (Event, Option<Entry>)>,
}

/// The operations log's write path and live stream.
pub struct Courante {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    cache: TileCache,
    live: broadcast::Sender<Arc<Applied>>,
    applier: Mutex<Applier>,
    applied: watch::Sender<u64>,
    creates: mpsc::Sender<PendingCreate>,
    activity: Arc<Activity>,
    /// Set when the workspace's state is replaced (its catalog changed): live streams end so
    /// their clients reconnect to the new state.
    retired: watch::Sender<bool>,
    /// The service of the state that replaced this one: changes this one commits after its
    /// retirement are applied there (its engine may share this one's collections).
    successor: std::sync::OnceLock<Arc<Courante>>,
    /// A service built to replace another applies nothing until that one hands over
    /// ([`Courante::retire`]): the engines may share collections, and only one may write to
    /// them at a time.
    paused: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Courante {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Courante").field("applied", &*self.applied.borrow()).finish_non_exhaustive()
    }
}

/// Longitude/latitude box of one or two geometries.
pub fn lonlat_bbox(geoms: &[&geo::Geometry<f64>]) -> Option<[f64; 4]> {
    geoms.iter().filter_map(|g| g.bounding_rect()).fold(None, |acc: Option<[f64; 4]>, r: Rect<f64>| {
        let b = [r.min().x, r.min().y, r.max().x, r.max().y];
        Some(acc.map_or(b, |a| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]))
    })
}

impl Courante {
    /// The service, with everything up to `last_seq` already in the index (loaded at start).
    /// Starts the group writer (it stops when the service is dropped). A `paused` service (one
    /// built to replace another) applies nothing until the one it replaces retires.
    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        cache: TileCache,
        last_seq: u64,
        group_sizes: Histogram,
        activity: Arc<Activity>,
        paused: bool,
    ) -> Arc<Self> {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let (applied, _) = watch::channel(last_seq);
        let (creates, queue) = mpsc::channel(GROUP_QUEUE);
        tokio::spawn(group_writer(store.clone(), queue, group_sizes));
        Arc::new(Self {
            creates,
            store,
            engine,
            cache,
            live,
            applier: Mutex::new(Applier { next: last_seq + 1, pending: BTreeMap::new() }),
            applied,
            activity,
            retired: watch::Sender::new(false),
            successor: std::sync::OnceLock::new(),
            paused: std::sync::atomic::AtomicBool::new(paused),
        })
    }

    /// Hands this service over to `successor`, the one of the workspace's new state: from now
    /// on this one applies nothing to its engine (a change it commits is applied by the
    /// successor, in seq order), its live streams end and each client reconnects to the new
    /// state with `Last-Event-ID`, losing nothing. Then the successor resumes.
    pub fn retire(&self, successor: &Arc<Self>) {
        {
            // Under the applier's lock: no application of this service is under way once the
            // successor starts applying.
            let _a = self.applier.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = self.successor.set(successor.clone());
            self.retired.send_replace(true);
        }
        successor.paused.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The service that applies this one's changes: itself, or its last successor.
    fn current(self: &Arc<Self>) -> Arc<Self> {
        let mut c = self.clone();
        while let Some(next) = c.successor.get().cloned() {
            c = next;
        }
        c
    }

    /// Whether [`Courante::retire`] was called.
    pub fn is_retired(&self) -> bool {
        *self.retired.borrow()
    }

    /// Resolves once [`Courante::retire`] was called.
    pub async fn until_retired(&self) {
        let mut rx = self.retired.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Starts the watchdog that applies committed changes whose writer never handed them over.
    pub fn spawn_watchdog(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        crate::spawn_every(self, WATCHDOG_PERIOD, |me| async move {
            if let Err(e) = me.catch_up().await {
                tracing::warn!(error = %e, "cannot read committed changes back from the store");
            }
        })
    }

    /// The last seq applied to the index.
    pub fn applied_seq(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Live events, in seq order, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Applied>> {
        self.live.subscribe()
    }

    /// The store behind the log.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The event draft of a change from `old` to `new`.
    pub fn draft(&self, kind: EventKind, old: Option<&Entry>, new: &Entry) -> EventDraft {
        let mut tags: Vec<&[String]> = vec![&new.tags];
        let mut geoms = vec![&new.geometry];
        if let Some(o) = old {
            tags.push(&o.tags);
            geoms.push(&o.geometry);
        }
        EventDraft { kind, layers: self.engine.entry_layers(&tags), bbox: lonlat_bbox(&geoms) }
    }

    /// Creates an entry: committed, applied, then returned.
    ///
    /// # Errors
    /// Store errors; nothing was written then.
    pub async fn create(self: &Arc<Self>, entry: Entry) -> Result<Commit, StoreError> {
        let _running = self.activity.start(OpKind::Write, "entry creation");
        let draft = self.draft(EventKind::Created, None, &entry);
        let me = self.clone();
        // The write runs in its own task: a client that hangs up cannot cancel it between
        // the commit and the hand-over to the applier.
        let commit = tokio::spawn(async move {
            let (done, committed) = oneshot::channel();
            me.creates.send(PendingCreate { entry, draft, done }).await.map_err(|_| writer_gone())?;
            let commit = committed.await.map_err(|_| writer_gone())??;
            me.submit(&commit);
            Ok::<_, StoreError>(commit)
        })
        .await
        .map_err(StoreError::task("log write"))??;
        self.wait_applied(commit.event.seq).await;
        Ok(commit)
    }

    /// Changes an entry with `change` run on its current state inside the transaction.
    ///
    /// # Errors
    /// [`ChangeError`] from `change` or the store.
    pub async fn change(
        self: &Arc<Self>,
        id: u64,
        change: impl Fn(&Entry) -> Result<Change, ChangeError> + Send + Sync + 'static,
    ) -> Result<Commit, ChangeError> {
        let _running = self.activity.start(OpKind::Write, format!("change of entry {id}"));
        let me = self.clone();
        let commit = tokio::spawn(async move {
            let commit = me.store.change_entry(id, &change).await?;
            me.submit(&commit);
            Ok::<_, ChangeError>(commit)
        })
        .await
        .map_err(StoreError::task("log write"))??;
        self.wait_applied(commit.event.seq).await;
        Ok(commit)
    }

    /// How many committed events the index is behind the store by, after waiting up to
    /// `patience` for it to catch up (changes committed a moment ago are normally applied
    /// within milliseconds; a replica whose feed is stuck stays behind).
    ///
    /// # Errors
    /// When the store cannot say its last event.
    pub async fn lag(self: &Arc<Self>, patience: Duration) -> Result<u64, StoreError> {
        let last = self.store.last_event_seq().await?;
        let mut rx = self.current().applied.subscribe();
        let _ = tokio::time::timeout(patience, rx.wait_for(|s| *s >= last)).await;
        Ok(last.saturating_sub(*rx.borrow()))
    }

    async fn wait_applied(self: &Arc<Self>, seq: u64) {
        let mut rx = self.current().applied.subscribe();
        if tokio::time::timeout(APPLY_WAIT, rx.wait_for(|s| *s >= seq)).await.is_err() {
            tracing::warn!(seq, "change committed but not applied within 5 s; the watchdog will apply it");
        }
    }

    fn submit(&self, commit: &Commit) {
        self.enqueue(commit.event.clone(), Some(commit.entry.clone()));
    }

    /// Queues a committed change and applies every change that is now next in seq order.
    fn enqueue(&self, event: Event, entry: Option<Entry>) {
        let mut a = self.applier.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(successor) = self.successor.get() {
            // Retired: the successor applies it (lock order: the retired one's, then its
            // successor's; never the other way round).
            successor.enqueue(event, entry);
            return;
        }
        if event.seq < a.next {
            return; // already applied (the watchdog got there first)
        }
        a.pending.insert(event.seq, (event, entry));
        let mut applied = None;
        while let Some((event, entry)) = {
            let next = a.next;
            a.pending.remove(&next)
        } {
            let touched = self.apply(&event, entry.as_ref());
            a.next += 1;
            applied = Some(event.seq);
            // No subscriber is not an error.
            let _ = self.live.send(Arc::new(Applied { event, before: touched.before, after: touched.after }));
        }
        drop(a);
        if let Some(seq) = applied {
            self.applied.send_replace(seq);
        }
    }

    /// Index (and H3 aggregates) update, then tile invalidation, for one change: the tiles its
    /// old and new geometry touch, and of those cached for a territory, only the ones whose
    /// territory meets the old or the new geometry (the others show neither).
    fn apply(&self, event: &Event, entry: Option<&Entry>) -> Touched {
        let mut interner = Interner::default();
        let vocab = self.engine.vocabulary();
        let touched = match entry.filter(|e| !e.deleted).map(|e| e.to_feature(vocab, &mut interner)) {
            Some(Ok(f)) => self.engine.upsert(&ENTRIES, f),
            Some(Err(e)) => {
                tracing::warn!(entry = event.entry_id, error = %e, "entry left out of the index");
                self.engine.remove(&ENTRIES, event.entry_id)
            }
            None => self.engine.remove(&ENTRIES, event.entry_id),
        };
        let seen = SeenBy::new(&touched);
        self.cache.invalidate_seen(&touched.rects, None, 0..=MAX_ZOOM, |s| seen.by(s));
        for h in &touched.hexagons {
            self.cache.invalidate_seen(std::slice::from_ref(&h.rect), Some(&h.layer), h.zooms.clone(), |s| seen.by(s));
        }
        touched
    }

    /// Applies every committed change the index does not have yet, reading them back from the
    /// store (the entry's current state serves for each of its events).
    ///
    /// # Errors
    /// Store errors.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        if self.paused.load(std::sync::atomic::Ordering::SeqCst) || self.successor.get().is_some() {
            return Ok(0);
        }
        let mut n = 0;
        loop {
            let from = self.applied_seq();
            let events = self.store.events_after(from, 500).await?;
            if events.is_empty() {
                return Ok(n);
            }
            for event in events {
                let entry = self.store.entry(event.entry_id).await?;
                self.enqueue(event, entry);
                n += 1;
            }
            if self.applied_seq() == from {
                return Ok(n);
            }
        }
    }
}

/// Whether a territory sees a change (meets the entry's old or new geometry), asked once per
/// territory of the cached tiles it touches.
struct SeenBy<'a> {
    touched: &'a Touched,
    answers: std::cell::RefCell<Vec<(Arc<Scope>, bool)>>,
}

impl<'a> SeenBy<'a> {
    fn new(touched: &'a Touched) -> Self {
        Self { touched, answers: std::cell::RefCell::new(Vec::new()) }
    }

    fn by(&self, scope: &Arc<Scope>) -> bool {
        if let Some((_, seen)) =
            self.answers.borrow().iter().find(|(s, _)| Arc::ptr_eq(s, scope) || s.key() == scope.key())
        {
            return *seen;
        }
        let seen = [&self.touched.before, &self.touched.after].into_iter().flatten().any(|f| scope.admits(&f.lonlat()));
        self.answers.borrow_mut().push((scope.clone(), seen));
        seen
    }
}

fn writer_gone() -> StoreError {
    StoreError::WriterStopped
}

/// Commits the creations waiting in `queue`, as many as are there (up to [`GROUP_MAX`]) in one
/// transaction, and answers each writer; up to [`Store::commits_in_flight`] groups at once, so
/// the next group's round trip overlaps the previous one's (the store numbers them in commit
/// order; the applier applies them in seq order whichever answers first).
async fn group_writer(store: Arc<dyn Store>, mut queue: mpsc::Receiver<PendingCreate>, group_sizes: Histogram) {
    use futures_util::StreamExt as _;
    let in_flight = store.commits_in_flight().max(1);
    let mut groups = futures_util::stream::FuturesUnordered::new();
    let mut waiting = Vec::with_capacity(GROUP_MAX);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut waiting, GROUP_MAX), if groups.len() < in_flight => {
                if n == 0 {
                    break;
                }
                groups.push(commit_group(store.as_ref(), std::mem::take(&mut waiting), &group_sizes));
            }
            Some(()) = groups.next(), if !groups.is_empty() => {}
        }
    }
    while groups.next().await.is_some() {}
}

/// Commits one group of creations and answers each writer. When the group fails, each of its
/// creations is tried alone, so one bad creation fails only its own writer.
async fn commit_group(store: &dyn Store, group: Vec<PendingCreate>, group_sizes: &Histogram) {
    let (batch, writers): (Vec<_>, Vec<_>) = group.into_iter().map(|p| ((p.entry, p.draft), p.done)).unzip();
    match store.create_entries(&batch).await {
        Ok(commits) => {
            group_sizes.observe(commits.len() as f64);
            for (commit, writer) in commits.into_iter().zip(writers) {
                // A writer that is gone is not an error: the watchdog applies its creation.
                let _ = writer.send(Ok(commit));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(writer) = writers.into_iter().next() {
                let _ = writer.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, creations = batch.len(), "group commit failed; committing each creation alone");
            for ((entry, draft), writer) in batch.into_iter().zip(writers) {
                let _ = writer.send(store.create_entry(entry, draft).await);
            }
        }
    }
}

/// Applies the changes other processes commit to the same store (replicas over one
/// PostgreSQL) as soon as the store says so (and every watchdog period anyway): the change
/// feed is read back in seq order. Nothing to do for a store only this process writes.
pub fn spawn_change_feed(courante: &Arc<Courante>) -> Option<tokio::task::JoinHandle<()>> {
    let mut wake = courante.store.change_notifications()?;
    let courante = Arc::downgrade(courante);
    Some(tokio::spawn(async move {
        while wake.recv().await.is_some() {
            let Some(courante) = courante.upgrade() else { return };
            if let Err(e) = courante.catch_up().await {
                tracing::warn!(error = %e, "cannot read the change feed; the watchdog retries");
            }
        }
    }))
}
