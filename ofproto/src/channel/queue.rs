//! The per-connection send queue: encoded messages waiting for the writer,
//! bounded in bytes.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// Why a queue was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// Write what is queued, then close.
    Flush(Option<String>),
    /// Close at once (the error is reported).
    Now(String),
}

#[derive(Debug, Default)]
struct Inner {
    msgs: VecDeque<Bytes>,
    /// Queued bytes plus those of a write in progress.
    bytes: usize,
    max_bytes: usize,
    dropped_async: u64,
    tx_msgs: u64,
    close: Option<Close>,
}

/// A bounded queue between the producers (reader, router) and the writer.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    inner: Mutex<Inner>,
    /// Wakes the writer (data or close).
    pub(crate) to_writer: Notify,
    /// Wakes the reader (bytes drained, or the writer failed).
    pub(crate) to_reader: Notify,
}

impl OutQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, g: &mut Inner, b: Bytes) {
        g.bytes += b.len();
        g.max_bytes = g.max_bytes.max(g.bytes);
        g.tx_msgs += 1;
        g.msgs.push_back(b);
        self.to_writer.notify_one();
    }

    /// Queues a reply; `false` (and the queue is closed) when it would take
    /// the queue above `max` bytes.
    pub(crate) fn push_reply(&self, b: Bytes, max: usize) -> bool {
        let mut g = self.lock();
        if g.close.is_some() {
            return false;
        }
        if g.bytes + b.len() > max {
            g.close = Some(Close::Now(format!(
                "send queue overflow ({} bytes queued, limit {max}): peer not reading",
                g.bytes
            )));
            drop(g);
            self.to_writer.notify_one();
            self.to_reader.notify_one();
            return false;
        }
        self.push(&mut g, b);
        true
    }

    /// Queues an asynchronous message unless `limit` bytes are already
    /// queued (then it is dropped and counted).
    pub(crate) fn push_async(&self, b: Bytes, limit: usize) -> bool {
        let mut g = self.lock();
        if g.close.is_some() {
            return false;
        }
        if g.bytes + b.len() > limit {
            g.dropped_async += 1;
            return false;
        }
        self.push(&mut g, b);
        true
    }

    /// Takes everything queued for writing (the bytes stay counted until
    /// [`OutQueue::written`]); `Err` when closed.
    pub(crate) fn take(&self, out: &mut Vec<Bytes>) -> Option<Close> {
        let mut g = self.lock();
        if let Some(Close::Now(e)) = &g.close {
            return Some(Close::Now(e.clone()));
        }
        out.extend(g.msgs.drain(..));
        if out.is_empty() {
            return g.close.clone();
        }
        None
    }

    /// `n` bytes were written.
    pub(crate) fn written(&self, n: usize) {
        let mut g = self.lock();
        g.bytes = g.bytes.saturating_sub(n);
        drop(g);
        self.to_reader.notify_one();
    }

    /// Closes the queue (the first reason wins).
    pub(crate) fn close(&self, c: Close) {
        let mut g = self.lock();
        if g.close.is_none() || matches!((&g.close, &c), (Some(Close::Flush(_)), Close::Now(_))) {
            g.close = Some(c);
        }
        drop(g);
        self.to_writer.notify_one();
        self.to_reader.notify_one();
    }

    /// The close reason, if closed.
    pub(crate) fn closed(&self) -> Option<Close> {
        self.lock().close.clone()
    }

    /// Queued bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// (queued bytes, most ever, dropped async, messages queued).
    pub(crate) fn counters(&self) -> (usize, usize, u64, u64) {
        let g = self.lock();
        (g.bytes, g.max_bytes, g.dropped_async, g.tx_msgs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_is_dropped_and_reply_overflow_closes() {
        let q = OutQueue::default();
        assert!(q.push_async(Bytes::from(vec![0; 60]), 100));
        assert!(!q.push_async(Bytes::from(vec![0; 60]), 100));
        assert_eq!(q.counters().2, 1);
        assert!(q.push_reply(Bytes::from(vec![0; 100]), 200));
        assert_eq!(q.bytes(), 160);
        assert!(!q.push_reply(Bytes::from(vec![0; 100]), 200));
        assert!(matches!(q.closed(), Some(Close::Now(_))));
        let mut v = Vec::new();
        assert!(matches!(q.take(&mut v), Some(Close::Now(_))));
    }

    #[test]
    fn bytes_stay_counted_until_written() {
        let q = OutQueue::default();
        assert!(q.push_reply(Bytes::from(vec![0; 10]), 100));
        let mut v = Vec::new();
        assert!(q.take(&mut v).is_none());
        assert_eq!(v.len(), 1);
        assert_eq!(q.bytes(), 10);
        q.written(10);
        assert_eq!(q.bytes(), 0);
        q.close(Close::Flush(None));
        let mut v = Vec::new();
        assert_eq!(q.take(&mut v), Some(Close::Flush(None)));
    }
}
