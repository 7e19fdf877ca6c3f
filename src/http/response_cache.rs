//! Whole answers to identical read queries, served again while the database is unchanged.
//!
//! Dashboards and DECNET's frontend poll the same few queries, and between two commits
//! their answers are the same bytes. An answer is kept under its request — the caller
//! (user and role), the media type, the operation name, the variables and the query text
//! — together with the database's data version (`Store::data_version`: SQLite's
//! `PRAGMA data_version`, which every commit of any connection or process changes, or
//! on MySQL/MariaDB the trigger-kept counters of migration 0011), and
//! served only while that version is still current: exact, never a time-to-live. A new
//! version empties the cache. Kept: successful query operations only (no mutation, no
//! error, no partial answer) of at most an eighth of the budget each; the budget is
//! bytes of answers, least recently used first out. An answer's gzip
//! (`http/compression.rs`) is kept beside it once a client that accepts gzip asked for
//! it, so it is compressed once per version, not per request. Where the database has no
//! version (in-memory SQLite, MySQL without migration 0011) nothing is cached.

use std::sync::Mutex;

use async_graphql::Request;
use axum::body::Bytes;
use lru::LruCache;

use crate::auth::Principal;

/// The answers of one data version.
pub struct ResponseCache {
    max_bytes: usize,
    state: Mutex<State>,
}

struct State {
    version: i64,
    bytes: usize,
    answers: LruCache<String, Answer>,
}

/// A stored answer: its JSON, and its gzip once a client accepting gzip asked for it
/// (`None` also for answers too small to compress).
#[derive(Clone)]
pub struct Answer {
    pub plain: Bytes,
    pub gzip: Option<Bytes>,
}

impl Answer {
    fn size(&self) -> usize {
        self.plain.len() + self.gzip.as_ref().map_or(0, Bytes::len)
    }
}

/// What [`ResponseCache::lookup`] found.
pub enum Lookup {
    /// The stored answer, current at `version`, and its key (to add its gzip to).
    Hit {
        answer: Answer,
        key: String,
        version: i64,
    },
    /// Not stored: store the answer under this key and version once it is known.
    Miss { key: String, version: i64 },
}

impl ResponseCache {
    /// A cache of at most `max_bytes` of answers; `None` for 0 (off).
    pub fn new(max_bytes: usize) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            max_bytes,
            state: Mutex::new(State {
                version: i64::MIN,
                bytes: 0,
                answers: LruCache::unbounded(),
            }),
        })
    }

    /// The key of `request` with the `modern` media type, or `None` without a caller.
    /// The caller has checked that it selects a query operation (only those are kept).
    pub fn key(request: &Request, modern: bool) -> Option<String> {
        let principal = request
            .data
            .get(&std::any::TypeId::of::<Principal>())
            .and_then(|d| d.downcast_ref::<Principal>())?;
        let variables = serde_json::to_string(&request.variables).ok()?;
        Some(format!(
            "{}\u{0}{:?}\u{0}{modern}\u{0}{}\u{0}{variables}\u{0}{}",
            principal.user_uuid,
            principal.role,
            request.operation_name.as_deref().unwrap_or(""),
            request.query
        ))
    }

    /// The answer stored under `key` at `version`, the database's current data version.
    pub fn lookup(&self, key: String, version: i64) -> Lookup {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.version != version {
            s.answers.clear();
            s.bytes = 0;
            s.version = version;
        }
        match s.answers.get(&key) {
            Some(answer) => {
                crate::metrics::response_cache("hit");
                let answer = answer.clone();
                Lookup::Hit {
                    answer,
                    key,
                    version,
                }
            }
            None => {
                crate::metrics::response_cache("miss");
                Lookup::Miss { key, version }
            }
        }
    }

    /// Keeps `answer` under `key` if the data version is still `version` and the answer
    /// is small enough (its JSON an eighth of the budget at most: the eighth is not
    /// checked again when its gzip is added, or an answer just under it would be
    /// compressed again on every hit). Storing again under the same key (an answer with
    /// its gzip added) replaces the entry; the budget counts both.
    pub fn store(&self, key: String, version: i64, answer: Answer) {
        if answer.plain.len() + key.len() > self.max_bytes / 8 {
            return;
        }
        let size = answer.size() + key.len();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.version != version {
            return;
        }
        if let Some(old) = s.answers.put(key.clone(), answer) {
            s.bytes -= old.size() + key.len();
        }
        s.bytes += size;
        while s.bytes > self.max_bytes {
            match s.answers.pop_lru() {
                Some((k, v)) => s.bytes -= k.len() + v.size(),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str) -> Request {
        Request::new(query).data(Principal::anonymous_admin())
    }

    #[test]
    fn the_key_holds_caller_media_type_operation_and_variables() {
        assert!(
            ResponseCache::key(&Request::new("{ a }"), false).is_none(),
            "no caller"
        );
        let q = "query($n: Int) { a(n: $n) }";
        let with = |n: i64| {
            req(q).variables(async_graphql::Variables::from_json(
                serde_json::json!({ "n": n }),
            ))
        };
        let key = |r: &Request, modern| ResponseCache::key(r, modern).expect("a caller");
        assert_eq!(key(&with(1), false), key(&with(1), false));
        assert_ne!(key(&with(1), false), key(&with(2), false));
        assert_ne!(key(&with(1), false), key(&with(1), true));
        assert_ne!(key(&req(q), false), key(&req(q).operation_name("A"), false));
        let viewer = Request::new(q).data(Principal {
            user_uuid: "u-1".into(),
            username: "v".into(),
            role: crate::auth::Role::Viewer,
        });
        assert_ne!(key(&viewer, false), key(&req(q), false));
    }

    fn plain(body: &Bytes) -> Answer {
        Answer {
            plain: body.clone(),
            gzip: None,
        }
    }

    fn hit(c: &ResponseCache, key: &str, version: i64) -> Option<Answer> {
        match c.lookup(key.into(), version) {
            Lookup::Hit { answer, .. } => Some(answer),
            Lookup::Miss { .. } => None,
        }
    }

    #[test]
    fn a_new_version_empties_it_and_the_budget_holds() {
        let c = ResponseCache::new(800).expect("on");
        assert!(ResponseCache::new(0).is_none());
        let body = Bytes::from(vec![b'x'; 90]);
        assert!(hit(&c, "k", 1).is_none());
        c.store("k".into(), 1, plain(&body));
        assert!(hit(&c, "k", 1).is_some_and(|a| a.plain == body));
        // A commit since: gone, and an answer computed under the old version is refused.
        assert!(hit(&c, "k", 2).is_none());
        c.store("k".into(), 1, plain(&body));
        assert!(hit(&c, "k", 2).is_none());
        // Too big for an eighth of the budget: not kept.
        c.store("big".into(), 2, plain(&Bytes::from(vec![b'x'; 200])));
        assert!(hit(&c, "big", 2).is_none());
        // Ten answers of 91 bytes in 800: the least recently used go first.
        for i in 0..10 {
            c.store(format!("{i}"), 2, plain(&body));
        }
        let kept: Vec<bool> = (0..10)
            .map(|i| hit(&c, &format!("{i}"), 2).is_some())
            .collect();
        assert_eq!(kept.iter().filter(|k| **k).count(), 8, "{kept:?}");
        assert!(!kept[0] && !kept[1] && kept[9]);
    }

    #[test]
    fn an_answer_with_its_gzip_replaces_it_and_both_count_against_the_budget() {
        let c = ResponseCache::new(800).expect("on");
        assert!(hit(&c, "0", 1).is_none(), "version 1 is current");
        let body = Bytes::from(vec![b'x'; 90]);
        for i in 0..8 {
            c.store(format!("{i}"), 1, plain(&body));
        }
        // 8 × 91 = 728 bytes; adding a 10-byte gzip to each of them would make 808 (and
        // the last one, 101 bytes, is over the eighth: its gzip is kept all the same).
        for i in 0..8 {
            let with_gzip = Answer {
                plain: body.clone(),
                gzip: Some(Bytes::from(vec![b'z'; 10])),
            };
            c.store(format!("{i}"), 1, with_gzip);
        }
        let kept: Vec<Option<Answer>> = (0..8).map(|i| hit(&c, &format!("{i}"), 1)).collect();
        assert!(
            kept[0].is_none(),
            "the least recently used went to make room"
        );
        assert!(kept[1..].iter().all(|a| {
            a.as_ref()
                .is_some_and(|a| a.gzip.as_ref().is_some_and(|g| g.len() == 10))
        }));
    }
}
