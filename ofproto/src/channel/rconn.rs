//! The timing rules of a connection, without I/O: reconnect backoff,
//! inactivity probing and the packet-in token bucket.  Every method takes
//! `now_ms`; the async shell only sleeps until the deadlines these return.

/// Reconnect backoff: 1 s after the first failure, doubling up to the
/// maximum; back to 1 s once a connection stayed up at least as long as
/// the current backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    max_ms: u64,
    cur_ms: u64,
}

/// The first backoff interval.
const FIRST_BACKOFF_MS: u64 = 1000;

impl Backoff {
    /// A backoff that never waits longer than `max_ms` (at least 1 s).
    pub fn new(max_ms: u64) -> Self {
        Self {
            max_ms: max_ms.max(FIRST_BACKOFF_MS),
            cur_ms: 0,
        }
    }

    /// Changes the maximum (keeps the current interval within it).
    pub fn set_max(&mut self, max_ms: u64) {
        self.max_ms = max_ms.max(FIRST_BACKOFF_MS);
        self.cur_ms = self.cur_ms.min(self.max_ms);
    }

    /// A connection attempt failed, or a connection that lasted `up_ms`
    /// (`None`: never established) ended.  Returns how long to wait before
    /// the next attempt.
    pub fn on_failure(&mut self, up_ms: Option<u64>) -> u64 {
        let reset = matches!(up_ms, Some(up) if up >= self.cur_ms.max(FIRST_BACKOFF_MS));
        self.cur_ms = if reset || self.cur_ms == 0 {
            FIRST_BACKOFF_MS
        } else {
            self.cur_ms.saturating_mul(2).min(self.max_ms)
        };
        self.cur_ms
    }

    /// The current interval (0 before the first failure).
    pub fn current(&self) -> u64 {
        self.cur_ms
    }
}

/// What the liveness timer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LivenessAction {
    /// Nothing to do yet.
    None,
    /// Send an `ECHO_REQUEST` (the connection is now idle).
    SendProbe,
    /// The peer stayed silent after the probe: disconnect.
    Disconnect,
}

/// Inactivity probing of one connection: `ACTIVE` until `probe_ms` pass
/// without anything received, then a probe is sent and the connection is
/// `IDLE`; another `probe_ms` of silence ends it.  `probe_ms == 0` never
/// probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    probe_ms: u64,
    last_rx_ms: u64,
    idle_since_ms: Option<u64>,
}

impl Liveness {
    /// A connection established at `now_ms`.
    pub fn new(probe_ms: u64, now_ms: u64) -> Self {
        Self {
            probe_ms,
            last_rx_ms: now_ms,
            idle_since_ms: None,
        }
    }

    /// Changes the probe interval.
    pub fn set_probe(&mut self, probe_ms: u64) {
        self.probe_ms = probe_ms;
    }

    /// Something was received.
    pub fn on_rx(&mut self, now_ms: u64) {
        self.last_rx_ms = now_ms;
        self.idle_since_ms = None;
    }

    /// Whether a probe is outstanding.
    pub fn is_idle(&self) -> bool {
        self.idle_since_ms.is_some()
    }

    /// When [`Liveness::poll`] next has something to do.
    pub fn deadline(&self) -> Option<u64> {
        if self.probe_ms == 0 {
            return None;
        }
        Some(match self.idle_since_ms {
            None => self.last_rx_ms.saturating_add(self.probe_ms),
            Some(t) => t.saturating_add(self.probe_ms),
        })
    }

    /// Advances the timer to `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> LivenessAction {
        match self.deadline() {
            Some(d) if now_ms >= d => {
                if self.idle_since_ms.is_some() {
                    LivenessAction::Disconnect
                } else {
                    self.idle_since_ms = Some(now_ms);
                    LivenessAction::SendProbe
                }
            }
            _ => LivenessAction::None,
        }
    }
}

/// A token bucket admitting `rate` events per second with bursts of
/// `burst`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    /// Capacity in milli-tokens.
    cap: u64,
    /// Current milli-tokens.
    tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ms`; `rate` and `burst` are at least 1.
    pub fn new(rate: u32, burst: u32, now_ms: u64) -> Self {
        let cap = u64::from(burst.max(1)) * 1000;
        Self {
            rate: u64::from(rate.max(1)),
            cap,
            tokens: cap,
            last_ms: now_ms,
        }
    }

    /// Takes one token if there is one.
    pub fn admit(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = self
            .tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.cap);
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_maximum_and_resets_after_a_stable_connection() {
        let mut b = Backoff::new(8000);
        let seq: Vec<u64> = (0..6).map(|_| b.on_failure(None)).collect();
        assert_eq!(seq, vec![1000, 2000, 4000, 8000, 8000, 8000]);
        // A short-lived connection does not reset.
        assert_eq!(b.on_failure(Some(500)), 8000);
        // One that stayed up longer than the backoff does.
        assert_eq!(b.on_failure(Some(60_000)), 1000);
        let mut b = Backoff::new(3000);
        let seq: Vec<u64> = (0..4).map(|_| b.on_failure(None)).collect();
        assert_eq!(seq, vec![1000, 2000, 3000, 3000]);
    }

    #[test]
    fn liveness_probes_then_disconnects() {
        let mut l = Liveness::new(5000, 0);
        assert_eq!(l.deadline(), Some(5000));
        assert_eq!(l.poll(4999), LivenessAction::None);
        l.on_rx(3000);
        assert_eq!(l.poll(7999), LivenessAction::None);
        assert_eq!(l.poll(8000), LivenessAction::SendProbe);
        assert!(l.is_idle());
        assert_eq!(l.deadline(), Some(13000));
        assert_eq!(l.poll(12999), LivenessAction::None);
        assert_eq!(l.poll(13000), LivenessAction::Disconnect);
        // An answer in time keeps it alive.
        let mut l = Liveness::new(1000, 0);
        assert_eq!(l.poll(1000), LivenessAction::SendProbe);
        l.on_rx(1500);
        assert!(!l.is_idle());
        assert_eq!(l.poll(2400), LivenessAction::None);
        // Probing off.
        let mut l = Liveness::new(0, 0);
        assert_eq!(l.deadline(), None);
        assert_eq!(l.poll(u64::MAX), LivenessAction::None);
    }

    #[test]
    fn token_bucket_limits_to_rate_after_burst() {
        let mut t = TokenBucket::new(100, 25, 0);
        let burst = (0..1000).filter(|_| t.admit(0)).count();
        assert_eq!(burst, 25);
        // 10 s at 100/s: 1000 more, offered 5000 evenly.
        let mut n = 0;
        for i in 0..5000u64 {
            if t.admit(i * 2) {
                n += 1;
            }
        }
        assert!((995..=1001).contains(&n), "{n}");
    }
}
