//! Where the process is in its life (starting, serving, stopping), for the readiness probe,
//! the live event streams (they end when it stops) and the stop signals.

use tokio::sync::watch;

/// A phase of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening the store and loading the index: `/readyz` answers 503.
    Starting,
    /// Serving: `/readyz` answers 200 when the store answers and the change feed is caught up.
    Serving,
    /// A stop signal came: `/readyz` answers 503, event streams end with a reconnect hint, and
    /// the requests in flight get the grace period.
    Stopping,
}

impl Phase {
    /// The phase as `/readyz` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Serving => "serving",
            Self::Stopping => "stopping",
        }
    }
}

/// The process's phase, shared by every workspace.
#[derive(Debug)]
pub struct Lifecycle {
    phase: watch::Sender<Phase>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self { phase: watch::Sender::new(Phase::Starting) }
    }
}

impl Lifecycle {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Start-up is over (unless a stop came first: stopping is final).
    pub fn serving(&self) {
        self.phase.send_if_modified(|p| {
            let starting = *p == Phase::Starting;
            if starting {
                *p = Phase::Serving;
            }
            starting
        });
    }

    /// A stop was asked for.
    pub fn stop(&self) {
        self.phase.send_replace(Phase::Stopping);
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.phase() == Phase::Stopping
    }

    /// Resolves once a stop is asked for.
    pub async fn until_stopping(&self) {
        let mut rx = self.phase.subscribe();
        let _ = rx.wait_for(|p| *p == Phase::Stopping).await;
    }
}

/// The stop signals of the process (SIGTERM, SIGINT), installed once so that none is missed
/// between two waits.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers: from now on these signals no longer end the process by
    /// themselves.
    ///
    /// # Errors
    /// When a handler cannot be installed.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next stop signal and names it.
    pub async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_is_final_and_wakes_the_waiters() {
        let l = std::sync::Arc::new(Lifecycle::default());
        assert_eq!(l.phase(), Phase::Starting);
        let waiter = tokio::spawn({
            let l = l.clone();
            async move { l.until_stopping().await }
        });
        l.serving();
        assert_eq!(l.phase(), Phase::Serving);
        assert!(!waiter.is_finished());
        l.stop();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        l.serving();
        assert_eq!(l.phase(), Phase::Stopping, "a stop during start-up is not undone by its end");
    }
}
