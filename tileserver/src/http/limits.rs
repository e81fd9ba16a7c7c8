//! Limits per identity and per request that keep one client from holding the server: writes
//! per identity (a token bucket: `writes_per_second` sustained, `write_burst` at once), live
//! event streams per identity (`event_streams_per_identity`), and how long a client may
//! pause while sending a request's body (`body_read_timeout_ms`; the headers have
//! `header_read_timeout_ms`). Each refusal is a problem+json naming the limit and its setting.

use super::AppState;
use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Identities whose write buckets are kept before full (idle) ones are dropped.
const KEPT_BUCKETS: usize = 10_000;

/// The settings of the limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Writes one identity may make per second, sustained; 0 turns the limit off.
    pub writes_per_second: f64,
    /// Writes one identity may make at once (the bucket's size).
    pub write_burst: u32,
    /// Live event streams (`GET /api/events`) one identity may hold open at once; 0: no limit.
    pub event_streams: usize,
    /// Longest pause while a client sends a request's body.
    pub body_read_timeout: Duration,
}

/// A token bucket: `tokens` left at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limits' state, shared by every workspace of the process (an identity's writes count
/// wherever they go).
#[derive(Debug)]
pub struct Limits {
    settings: Settings,
    writes: Mutex<HashMap<String, Bucket>>,
    streams: Mutex<HashMap<String, usize>>,
}

/// An open event stream of an identity, counted until dropped.
#[derive(Debug)]
pub struct StreamSlot {
    limits: Arc<Limits>,
    actor: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.limits.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = streams.get_mut(&self.actor) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.actor);
            }
        }
    }
}

impl Limits {
    /// Limits with these settings.
    pub fn new(settings: Settings) -> Arc<Self> {
        Arc::new(Self { settings, writes: Mutex::default(), streams: Mutex::default() })
    }

    /// Its settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Counts a write by `actor` at `now`.
    ///
    /// # Errors
    /// 429 naming the limit, with the seconds until a write is allowed again.
    pub fn write(&self, actor: &str, now: Instant) -> Result<(), ApiError> {
        let Settings { writes_per_second: rate, write_burst, .. } = self.settings;
        if rate <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(write_burst.max(1));
        let mut buckets = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= KEPT_BUCKETS && !buckets.contains_key(actor) {
            // Full buckets hold nothing a new one would not: dropped first.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(actor.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0);
        Err(ApiError::TooManyRequests {
            detail: format!(
                "more writes than this server allows one identity ({rate} a second sustained, {write_burst} at once: \
                 the writes_per_second and write_burst settings); wait {wait} s, or spread the writes out"
            ),
            retry_after_s: wait as u64,
        })
    }

    /// Opens an event stream for `actor`, counted until the slot is dropped.
    ///
    /// # Errors
    /// 429 naming the limit when the identity holds as many streams as allowed.
    pub fn stream(self: &Arc<Self>, actor: &str) -> Result<StreamSlot, ApiError> {
        let max = self.settings.event_streams;
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let n = streams.entry(actor.to_owned()).or_insert(0);
        if max > 0 && *n >= max {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "this identity has {n} event streams open, the most one identity may hold \
                     (event_streams_per_identity = {max}): close one (a page or tab left open) and retry"
                ),
                retry_after_s: 5,
            });
        }
        *n += 1;
        Ok(StreamSlot { limits: self.clone(), actor: actor.to_owned() })
    }

    /// Event streams `actor` holds open.
    #[cfg(test)]
    pub fn streams_of(&self, actor: &str) -> usize {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner).get(actor).copied().unwrap_or(0)
    }
}

/// A request body that fails when the client pauses longer than `idle` between two parts of
/// it, setting `timed_out`.
struct IdleBody {
    inner: Body,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The error an [`IdleBody`] gives.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for more than {0:?}")]
struct Stalled(Duration);

impl axum::body::HttpBody for IdleBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + self.idle;
                self.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.timed_out.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(Stalled(self.idle).into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: a request body whose client pauses longer than `body_read_timeout_ms` is cut
/// off, answered 408 naming the setting, and its connection closed (a slow client cannot hold
/// it). Requests without a body pass as they are.
pub async fn body_deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let idle = state.limits.settings().body_read_timeout;
    if axum::body::HttpBody::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = IdleBody { inner: body, idle, sleep: Box::pin(tokio::time::sleep(idle)), timed_out: timed_out.clone() };
    let resp = next.run(Request::from_parts(parts, Body::new(body))).await;
    if !timed_out.load(Ordering::Relaxed) {
        return resp;
    }
    let mut resp = ApiError::RequestTimeout(format!(
        "the request body stalled for more than {} ms (body_read_timeout_ms): send it without pausing",
        idle.as_millis()
    ))
    .into_response();
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: f64, burst: u32, streams: usize) -> Arc<Limits> {
        Limits::new(Settings {
            writes_per_second: rate,
            write_burst: burst,
            event_streams: streams,
            body_read_timeout: Duration::from_secs(1),
        })
    }

    #[test]
    fn writes_are_limited_per_identity_and_refill() {
        let l = limits(2.0, 3, 0);
        let t = Instant::now();
        for _ in 0..3 {
            l.write("alice", t).unwrap();
        }
        let ApiError::TooManyRequests { detail, retry_after_s } = l.write("alice", t).unwrap_err() else {
            panic!("429")
        };
        assert!(detail.contains("writes_per_second") && detail.contains("write_burst"), "{detail}");
        assert_eq!(retry_after_s, 1);
        // Another identity has its own bucket.
        l.write("bob", t).unwrap();
        // Half a second later, one write's worth is back (2 a second), and no more.
        let later = t + Duration::from_millis(500);
        l.write("alice", later).unwrap();
        assert!(l.write("alice", later).is_err());
        // Off: never refused.
        let off = limits(0.0, 1, 0);
        for _ in 0..1000 {
            off.write("alice", t).unwrap();
        }
    }

    #[test]
    fn event_streams_are_counted_until_closed() {
        let l = limits(0.0, 1, 2);
        let a = l.stream("alice").unwrap();
        let _b = l.stream("alice").unwrap();
        let e = l.stream("alice").unwrap_err().to_string();
        assert!(e.contains("event_streams_per_identity = 2"), "{e}");
        let _c = l.stream("bob").unwrap();
        drop(a);
        assert_eq!(l.streams_of("alice"), 1);
        let _d = l.stream("alice").unwrap();
        assert!(l.stream("alice").is_err());
    }
}
