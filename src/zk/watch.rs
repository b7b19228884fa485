//! Watches: who wants to hear about which path, and which notifications a tree
//! change produces.
//!
//! Kinds kept per session and path:
//! - one-shot *data* watches (set by getData, and by exists whether or not the node
//!   exists — the server does not tell them apart, only the client does);
//! - one-shot *child* watches (getChildren/getChildren2 on an existing node);
//! - one persistent watch, either `Persistent` (data and child events of the path)
//!   or `PersistentRecursive` (data events of the path and every descendant, never
//!   NodeChildrenChanged). As in ZooKeeper 3.8, adding one replaces the other on the
//!   same path for the same session: the last addWatch wins.
//!
//! Watches belong to a session's *connection*: the server drops them when the
//! connection goes away and the client re-registers them with setWatches.
//!
//! Triggering follows ZooKeeper's `DataTree`: a create fires NodeCreated on the path
//! and NodeChildrenChanged on the parent; a delete fires NodeDeleted on the path
//! (data and child watchers, each session once) and NodeChildrenChanged on the
//! parent; setData fires NodeDataChanged. Each trigger notifies a session at most once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::proto::{event_type, keeper_state, WatcherEvent};
use super::tree::split_parent;

/// A change to the tree that watches may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(String),
    Deleted(String),
    DataChanged(String),
}

/// Mode of a watch added with addWatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistentMode {
    /// addWatch mode 0.
    Persistent,
    /// addWatch mode 1.
    Recursive,
}

impl PersistentMode {
    pub fn from_wire(mode: i32) -> Option<PersistentMode> {
        match mode {
            0 => Some(PersistentMode::Persistent),
            1 => Some(PersistentMode::Recursive),
            _ => None,
        }
    }
}

/// Which watches removeWatches/checkWatches address (`WatcherType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
}

impl WatcherType {
    pub fn from_wire(kind: i32) -> Option<WatcherType> {
        match kind {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            _ => None,
        }
    }
}

/// Every watch on the server.
#[derive(Debug, Default)]
pub struct WatchManager {
    data: HashMap<String, BTreeSet<i64>>,
    child: HashMap<String, BTreeSet<i64>>,
    persistent: HashMap<String, BTreeMap<i64, PersistentMode>>,
    recursive_count: usize,
    /// Paths each session may have a watch on (a superset; cleaned on removal).
    by_session: HashMap<i64, BTreeSet<String>>,
}

impl WatchManager {
    pub fn new() -> WatchManager {
        WatchManager::default()
    }

    fn note(&mut self, session: i64, path: &str) {
        self.by_session.entry(session).or_default().insert(path.to_string());
    }

    pub fn add_data(&mut self, path: &str, session: i64) {
        self.data.entry(path.to_string()).or_default().insert(session);
        self.note(session, path);
    }

    pub fn add_child(&mut self, path: &str, session: i64) {
        self.child.entry(path.to_string()).or_default().insert(session);
        self.note(session, path);
    }

    pub fn add_persistent(&mut self, path: &str, session: i64, mode: PersistentMode) {
        let old = self.persistent.entry(path.to_string()).or_default().insert(session, mode);
        if old == Some(PersistentMode::Recursive) {
            self.recursive_count -= 1;
        }
        if mode == PersistentMode::Recursive {
            self.recursive_count += 1;
        }
        self.note(session, path);
    }

    fn remove_one_shot(map: &mut HashMap<String, BTreeSet<i64>>, path: &str, session: i64) -> bool {
        let Some(set) = map.get_mut(path) else {
            return false;
        };
        let removed = set.remove(&session);
        if set.is_empty() {
            map.remove(path);
        }
        removed
    }

    fn remove_persistent(&mut self, path: &str, session: i64) -> bool {
        let Some(map) = self.persistent.get_mut(path) else {
            return false;
        };
        let removed = map.remove(&session);
        if map.is_empty() {
            self.persistent.remove(path);
        }
        if removed == Some(PersistentMode::Recursive) {
            self.recursive_count -= 1;
        }
        removed.is_some()
    }

    /// removeWatches: drops the matching watches; false if there were none.
    pub fn remove(&mut self, path: &str, session: i64, kind: WatcherType) -> bool {
        match kind {
            WatcherType::Children => Self::remove_one_shot(&mut self.child, path, session),
            WatcherType::Data => Self::remove_one_shot(&mut self.data, path, session),
            WatcherType::Any => {
                let a = Self::remove_one_shot(&mut self.child, path, session);
                let b = Self::remove_one_shot(&mut self.data, path, session);
                let c = self.remove_persistent(path, session);
                a || b || c
            }
        }
    }

    /// checkWatches: whether a matching watch exists.
    pub fn contains(&self, path: &str, session: i64, kind: WatcherType) -> bool {
        let in_set = |m: &HashMap<String, BTreeSet<i64>>| m.get(path).is_some_and(|s| s.contains(&session));
        let persistent = self.persistent.get(path).is_some_and(|m| m.contains_key(&session));
        match kind {
            WatcherType::Children => in_set(&self.child),
            WatcherType::Data => in_set(&self.data),
            WatcherType::Any => in_set(&self.child) || in_set(&self.data) || persistent,
        }
    }

    /// Drops every watch of a session (its connection went away or it ended).
    pub fn remove_session(&mut self, session: i64) {
        let Some(paths) = self.by_session.remove(&session) else {
            return;
        };
        for path in paths {
            Self::remove_one_shot(&mut self.data, &path, session);
            Self::remove_one_shot(&mut self.child, &path, session);
            self.remove_persistent(&path, session);
        }
    }

    /// Number of (session, path, kind) watches.
    pub fn watch_count(&self) -> usize {
        self.data.values().map(BTreeSet::len).sum::<usize>()
            + self.child.values().map(BTreeSet::len).sum::<usize>()
            + self.persistent.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Number of distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: BTreeSet<&String> = self.data.keys().collect();
        paths.extend(self.child.keys());
        paths.extend(self.persistent.keys());
        paths.len()
    }

    /// Sessions with at least one watch.
    pub fn session_count(&self) -> usize {
        self.by_session.values().filter(|p| !p.is_empty()).count()
    }

    /// Sessions watching a path through data semantics: one-shot data watches
    /// (consumed), persistent watches on the path, recursive watches on it or any
    /// ancestor.
    fn trigger_data(&mut self, path: &str) -> BTreeSet<i64> {
        let mut hit = self.data.remove(path).unwrap_or_default();
        if let Some(p) = self.persistent.get(path) {
            hit.extend(p.keys().copied());
        }
        if self.recursive_count > 0 {
            let mut cur = path;
            while let Some((parent, _)) = split_parent(cur) {
                if let Some(p) = self.persistent.get(parent) {
                    hit.extend(p.iter().filter(|(_, m)| **m == PersistentMode::Recursive).map(|(s, _)| *s));
                }
                cur = parent;
            }
        }
        hit
    }

    /// Sessions watching a path's children: one-shot child watches (consumed) and
    /// non-recursive persistent watches.
    fn trigger_child(&mut self, path: &str) -> BTreeSet<i64> {
        let mut hit = self.child.remove(path).unwrap_or_default();
        if let Some(p) = self.persistent.get(path) {
            hit.extend(p.iter().filter(|(_, m)| **m == PersistentMode::Persistent).map(|(s, _)| *s));
        }
        hit
    }

    /// The notifications a change produces, in delivery order, as (session, event).
    pub fn trigger(&mut self, change: &Change) -> Vec<(i64, WatcherEvent)> {
        let mut out = Vec::new();
        let event =
            |t: i32, p: &str| WatcherEvent { event_type: t, state: keeper_state::SYNC_CONNECTED, path: p.to_string() };
        match change {
            Change::Created(path) => {
                for s in self.trigger_data(path) {
                    out.push((s, event(event_type::NODE_CREATED, path)));
                }
                if let Some((parent, _)) = split_parent(path) {
                    for s in self.trigger_child(parent) {
                        out.push((s, event(event_type::NODE_CHILDREN_CHANGED, parent)));
                    }
                }
            }
            Change::Deleted(path) => {
                let data = self.trigger_data(path);
                let child = self.trigger_child(path);
                for s in data.union(&child) {
                    out.push((*s, event(event_type::NODE_DELETED, path)));
                }
                if let Some((parent, _)) = split_parent(path) {
                    for s in self.trigger_child(parent) {
                        out.push((s, event(event_type::NODE_CHILDREN_CHANGED, parent)));
                    }
                }
            }
            Change::DataChanged(path) => {
                for s in self.trigger_data(path) {
                    out.push((s, event(event_type::NODE_DATA_CHANGED, path)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(v: &[(i64, WatcherEvent)]) -> Vec<(i64, i32, &str)> {
        v.iter().map(|(s, e)| (*s, e.event_type, e.path.as_str())).collect()
    }

    #[test]
    fn one_shot_watches_fire_once() {
        let mut w = WatchManager::new();
        w.add_data("/a", 1);
        w.add_child("/", 2);
        let ev = w.trigger(&Change::Created("/a".into()));
        assert_eq!(kinds(&ev), vec![(1, 1, "/a"), (2, 4, "/")]);
        assert!(w.trigger(&Change::DataChanged("/a".into())).is_empty());
        assert_eq!(w.watch_count(), 0);
    }

    #[test]
    fn delete_notifies_each_session_once() {
        let mut w = WatchManager::new();
        w.add_data("/a", 1);
        w.add_child("/a", 1);
        w.add_child("/a", 2);
        let ev = w.trigger(&Change::Deleted("/a".into()));
        assert_eq!(kinds(&ev), vec![(1, 2, "/a"), (2, 2, "/a")]);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = WatchManager::new();
        w.add_persistent("/p", 1, PersistentMode::Persistent);
        w.add_persistent("/r", 2, PersistentMode::Recursive);
        assert_eq!(kinds(&w.trigger(&Change::Created("/p/x".into()))), vec![(1, 4, "/p")]);
        assert_eq!(kinds(&w.trigger(&Change::Created("/p/x".into()))), vec![(1, 4, "/p")]);
        assert_eq!(kinds(&w.trigger(&Change::Created("/r/x/y".into()))), vec![(2, 1, "/r/x/y")]);
        assert_eq!(kinds(&w.trigger(&Change::DataChanged("/r".into()))), vec![(2, 3, "/r")]);
        assert_eq!(kinds(&w.trigger(&Change::Deleted("/r".into()))), vec![(2, 2, "/r")]);
        // The last addWatch on a path wins.
        w.add_persistent("/r", 2, PersistentMode::Persistent);
        assert_eq!(kinds(&w.trigger(&Change::Created("/r/x/y".into()))), vec![]);
        assert!(w.remove("/r", 2, WatcherType::Any));
        assert!(!w.remove("/r", 2, WatcherType::Any));
        w.remove_session(1);
        assert_eq!(w.watch_count(), 0);
    }
}
