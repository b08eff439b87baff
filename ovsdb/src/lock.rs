//! OVSDB locks (RFC 7047 section 4.1.8-4.1.10): `lock`, `steal`, `unlock`.
//!
//! Each named lock has an owner and a queue of waiters. Pure data: the
//! server turns the returned [`LockEvent`]s into `locked` / `stolen`
//! notifications.

use std::collections::{HashMap, VecDeque};

/// Identifies one client session.
pub type SessionId = u64;

/// A notification the server must send as a consequence of a lock operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEvent {
    /// `session` now owns lock `name` (send `locked`).
    Locked {
        /// Receiving session.
        session: SessionId,
        /// Lock name.
        name: String,
    },
    /// `session` lost lock `name` to a `steal` (send `stolen`).
    Stolen {
        /// Receiving session.
        session: SessionId,
        /// Lock name.
        name: String,
    },
}

/// Why a lock request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The session already asked for this lock.
    #[error("duplicate lock")]
    Duplicate,
    /// `unlock` of a lock the session never asked for.
    #[error("not locked")]
    NotLocked,
}

impl LockError {
    /// The error object ovsdb-server sends for this refusal of method
    /// `method` (`"lock"`, `"steal"` or `"unlock"`) with `params`.
    pub fn to_json(&self, method: &str, params: &serde_json::Value) -> serde_json::Value {
        let details = match self {
            LockError::Duplicate => format!("must issue \"unlock\" before new \"{method}\""),
            LockError::NotLocked => "unlock: \"unlock\" without \"lock\" or \"steal\"".to_string(),
        };
        crate::error::Error::syntax(Some(params), None, details).to_json()
    }
}

/// All locks of a server. Element 0 of each queue is the owner.
#[derive(Debug, Default)]
pub struct LockTable {
    locks: HashMap<String, VecDeque<SessionId>>,
}

impl LockTable {
    /// An empty table.
    pub fn new() -> LockTable {
        LockTable::default()
    }

    /// Does `session` own `name`?
    pub fn owns(&self, session: SessionId, name: &str) -> bool {
        self.locks.get(name).and_then(|q| q.front()) == Some(&session)
    }

    /// The current owner of `name`.
    pub fn owner(&self, name: &str) -> Option<SessionId> {
        self.locks.get(name).and_then(|q| q.front().copied())
    }

    /// `lock`: acquire or wait. Returns whether the lock is now held.
    pub fn lock(&mut self, session: SessionId, name: &str) -> Result<bool, LockError> {
        let q = self.locks.entry(name.to_string()).or_default();
        if q.contains(&session) {
            return Err(LockError::Duplicate);
        }
        q.push_back(session);
        Ok(q.len() == 1)
    }

    /// `steal`: take the lock at once; the previous owner (if any) stays
    /// queued right behind and is told with a `stolen` event.
    pub fn steal(&mut self, session: SessionId, name: &str) -> Result<Vec<LockEvent>, LockError> {
        let q = self.locks.entry(name.to_string()).or_default();
        if q.contains(&session) {
            return Err(LockError::Duplicate);
        }
        let victim = q.front().copied();
        q.push_front(session);
        Ok(victim
            .map(|v| LockEvent::Stolen {
                session: v,
                name: name.to_string(),
            })
            .into_iter()
            .collect())
    }

    /// `unlock`: give up ownership or stop waiting.
    pub fn unlock(&mut self, session: SessionId, name: &str) -> Result<Vec<LockEvent>, LockError> {
        let Some(q) = self.locks.get_mut(name) else {
            return Err(LockError::NotLocked);
        };
        let Some(pos) = q.iter().position(|s| *s == session) else {
            return Err(LockError::NotLocked);
        };
        q.remove(pos);
        let mut ev = Vec::new();
        if pos == 0 {
            if let Some(&next) = q.front() {
                ev.push(LockEvent::Locked {
                    session: next,
                    name: name.to_string(),
                });
            }
        }
        if q.is_empty() {
            self.locks.remove(name);
        }
        Ok(ev)
    }

    /// Drops every lock and wait of a closing session.
    pub fn release_all(&mut self, session: SessionId) -> Vec<LockEvent> {
        let names: Vec<String> = self
            .locks
            .iter()
            .filter(|(_, q)| q.contains(&session))
            .map(|(n, _)| n.clone())
            .collect();
        let mut ev = Vec::new();
        for n in names {
            ev.extend(self.unlock(session, &n).unwrap_or_default());
        }
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_waits_and_passes_on_unlock() {
        let mut t = LockTable::new();
        assert_eq!(t.lock(1, "a"), Ok(true));
        assert_eq!(t.lock(2, "a"), Ok(false));
        assert_eq!(t.lock(1, "a"), Err(LockError::Duplicate));
        assert!(t.owns(1, "a") && !t.owns(2, "a"));
        assert_eq!(
            t.unlock(1, "a").unwrap(),
            vec![LockEvent::Locked {
                session: 2,
                name: "a".into()
            }]
        );
        assert!(t.owns(2, "a"));
        assert_eq!(t.unlock(1, "a"), Err(LockError::NotLocked));
        assert_eq!(t.release_all(2), vec![]);
        assert_eq!(t.owner("a"), None);
    }

    #[test]
    fn steal_notifies_victim_who_gets_it_back_later() {
        let mut t = LockTable::new();
        t.lock(1, "a").unwrap();
        assert_eq!(
            t.steal(2, "a").unwrap(),
            vec![LockEvent::Stolen {
                session: 1,
                name: "a".into()
            }]
        );
        assert!(t.owns(2, "a"));
        assert_eq!(
            t.release_all(2),
            vec![LockEvent::Locked {
                session: 1,
                name: "a".into()
            }]
        );
        assert_eq!(t.steal(3, "b").unwrap(), vec![]);
    }
}
