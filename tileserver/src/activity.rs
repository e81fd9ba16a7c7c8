//! Operations in progress — tile renders and log writes — with their start times, so that
//! `/health` and `/metrics` can say what is stuck even while it is stuck, and a watchdog can
//! report each operation that runs past the stall deadline once, in the log and in a counter.
//!
//! # Locks
//! One mutex, held only to add, remove or read entries of a map: it is a leaf (no other lock
//! is taken, no callback, store call or `await` happens under it), so a reader of `/health`
//! can always get it, whatever the renders and writes are waiting for.

use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the watchdog looks for stalled operations.
const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// What an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A tile render (engine layers, PostGIS table layers or both).
    Render,
    /// A log write: a creation or change of an entry, from the request to its application.
    Write,
}

impl OpKind {
    /// Every kind, in the order snapshots list them.
    pub const ALL: [OpKind; 2] = [OpKind::Render, OpKind::Write];

    /// The kind's name in `/health` and the `kind` label of metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Render => "render",
            Self::Write => "write",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Render => 0,
            Self::Write => 1,
        }
    }
}

#[derive(Debug)]
struct Op {
    kind: OpKind,
    what: String,
    started: Instant,
    reported: bool,
}

/// Operations of one kind running now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindSnapshot {
    /// The kind.
    pub kind: OpKind,
    /// How many are running.
    pub running: usize,
    /// Age of the oldest, if any runs.
    pub oldest: Option<Duration>,
    /// How many run past the stall deadline now.
    pub stalled: usize,
    /// Operations of this kind reported as stalled since start.
    pub stalled_total: u64,
}

/// The operations running now, by kind, in [`OpKind::ALL`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Per kind.
    pub kinds: Vec<KindSnapshot>,
    /// The stall deadline.
    pub stall_after: Duration,
}

impl Snapshot {
    /// Whether any operation runs past the stall deadline.
    pub fn stalled(&self) -> bool {
        self.kinds.iter().any(|k| k.stalled > 0)
    }
}

/// The registry of running operations.
#[derive(Debug)]
pub struct Activity {
    running: Mutex<HashMap<u64, Op>>,
    next: AtomicU64,
    stall_after: Duration,
    stalled_total: [Counter; 2],
}

/// Marks an operation as running until dropped.
#[derive(Debug)]
#[must_use = "the operation counts as running until the guard is dropped"]
pub struct OpGuard {
    activity: Arc<Activity>,
    id: u64,
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        let op = self.activity.lock().remove(&self.id);
        if let Some(op) = op.filter(|op| op.reported) {
            tracing::warn!(
                kind = op.kind.as_str(),
                what = %op.what,
                seconds = op.started.elapsed().as_secs_f64(),
                "stalled operation finished"
            );
        }
    }
}

impl Activity {
    /// A registry reporting operations older than `stall_after`; `stalled_total` counts them
    /// per kind (render, write), for `/metrics`.
    pub fn new(stall_after: Duration, stalled_total: [Counter; 2]) -> Arc<Self> {
        Arc::new(Self { running: Mutex::default(), next: AtomicU64::new(0), stall_after, stalled_total })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Op>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an operation as running until the guard is dropped; `what` names it in the log
    /// when it stalls (a tile address, an entry id).
    pub fn start(self: &Arc<Self>, kind: OpKind, what: impl Into<String>) -> OpGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let op = Op { kind, what: what.into(), started: Instant::now(), reported: false };
        self.lock().insert(id, op);
        OpGuard { activity: self.clone(), id }
    }

    /// The operations running now.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let mut kinds: Vec<KindSnapshot> = OpKind::ALL
            .iter()
            .map(|&kind| KindSnapshot {
                kind,
                running: 0,
                oldest: None,
                stalled: 0,
                stalled_total: self.stalled_total[kind.index()].get(),
            })
            .collect();
        for op in self.lock().values() {
            let k = &mut kinds[op.kind.index()];
            let age = now.saturating_duration_since(op.started);
            k.running += 1;
            k.oldest = Some(k.oldest.map_or(age, |o| o.max(age)));
            k.stalled += usize::from(age >= self.stall_after);
        }
        Snapshot { kinds, stall_after: self.stall_after }
    }

    /// Reports (log and counter) every operation that ran past the deadline since the last
    /// sweep; returns how many.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let stalled: Vec<(OpKind, String, Duration)> = self
            .lock()
            .values_mut()
            .filter(|op| !op.reported && now.saturating_duration_since(op.started) >= self.stall_after)
            .map(|op| {
                op.reported = true;
                (op.kind, op.what.clone(), now.saturating_duration_since(op.started))
            })
            .collect();
        for (kind, what, age) in &stalled {
            self.stalled_total[kind.index()].inc();
            tracing::error!(
                kind = kind.as_str(),
                what = %what,
                seconds = age.as_secs_f64(),
                deadline_s = self.stall_after.as_secs_f64(),
                "operation stalled past its deadline"
            );
        }
        stalled.len()
    }

    /// Starts the watchdog that sweeps every second; it stops when the registry is dropped.
    pub fn spawn_watchdog(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        crate::spawn_every(self, WATCH_PERIOD, |me| async move {
            me.sweep();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_operations_age_stall_once_and_leave_when_dropped() {
        let a = Activity::new(Duration::from_millis(30), [Counter::default(), Counter::default()]);
        let render = a.start(OpKind::Render, "tile 1/0/0");
        let write = a.start(OpKind::Write, "entry 7");
        let s = a.snapshot();
        assert_eq!((s.kinds[0].running, s.kinds[1].running), (1, 1));
        assert!(!s.stalled());
        assert_eq!(a.sweep(), 0, "nothing is past the deadline yet");
        drop(write);
        std::thread::sleep(Duration::from_millis(40));
        let s = a.snapshot();
        assert!(s.stalled());
        assert_eq!((s.kinds[0].stalled, s.kinds[1].running), (1, 0));
        assert!(s.kinds[0].oldest.unwrap() >= Duration::from_millis(30));
        assert_eq!(a.sweep(), 1);
        assert_eq!(a.sweep(), 0, "an operation is reported once");
        assert_eq!(a.snapshot().kinds[0].stalled_total, 1);
        drop(render);
        let s = a.snapshot();
        assert!(!s.stalled() && s.kinds[0].running == 0 && s.kinds[0].oldest.is_none());
        assert_eq!(s.kinds[0].stalled_total, 1, "the total stays");
    }
}
