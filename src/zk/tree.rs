//! The data tree: znodes with data, ACL, stat fields, children, and the indexes
//! kept beside them (ephemerals per session, container and TTL nodes).
//!
//! Mutations here are *apply* steps: they are handed transactions that were
//! validated already (see `ops/`) or read back from the log, and they only fail when
//! the tree disagrees with the transaction, which means corrupt input during
//! recovery. Watches, sessions and durability are someone else's business.

use std::collections::{BTreeSet, HashMap, HashSet};

use thiserror::Error;

use super::proto::{Acl, ErrorCode, Stat};

/// What kind of znode this is; decides its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    /// Deleted when the owning session ends.
    Ephemeral(i64),
    /// Deleted by the container sweep once it had children and has none left.
    Container,
    /// Deleted by the sweep when childless and unmodified for this many ms.
    Ttl(i64),
}

/// One znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `None` when the client created it with a null buffer (answered as null, too).
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub pzxid: i64,
    pub kind: NodeKind,
    pub children: BTreeSet<String>,
}

impl Node {
    fn empty(acl: Vec<Acl>) -> Node {
        Node {
            data: Some(Vec::new()),
            acl,
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            pzxid: 0,
            kind: NodeKind::Persistent,
            children: BTreeSet::new(),
        }
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, Vec::len)
    }

    /// The client-visible stat. Like ZooKeeper, container and TTL nodes show an
    /// ephemeralOwner of 0; only real ephemerals show their session.
    pub fn stat(&self) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: match self.kind {
                NodeKind::Ephemeral(owner) => owner,
                _ => 0,
            },
            data_length: i32::try_from(self.data_len()).unwrap_or(i32::MAX),
            num_children: i32::try_from(self.children.len()).unwrap_or(i32::MAX),
            pzxid: self.pzxid,
        }
    }
}

/// The tree disagrees with a transaction being applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeError {
    #[error("node {0} does not exist")]
    NoNode(String),
    #[error("node {0} already exists")]
    NodeExists(String),
    #[error("node {0} still has children")]
    NotEmpty(String),
    #[error("{0} is not a valid path")]
    BadPath(String),
}

/// Checks a path the way ZooKeeper's `PathUtils.validatePath` does.
pub fn validate_path(path: &str) -> Result<(), ErrorCode> {
    if path.is_empty() || !path.starts_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    for component in path[1..].split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(ErrorCode::BadArguments);
        }
    }
    let bad_char = |c: char| {
        let c = c as u32;
        c == 0
            || (0x01..=0x1f).contains(&c)
            || (0x7f..=0x9f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
    };
    if path.chars().any(bad_char) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// Splits `/a/b` into (`/a`, `b`) and `/a` into (`/`, `a`); `None` for the root or
/// anything without a slash.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let idx = path.rfind('/')?;
    let name = &path[idx + 1..];
    if path == "/" {
        return None;
    }
    let parent = if idx == 0 { "/" } else { &path[..idx] };
    Some((parent, name))
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Saved copies of nodes, used to roll a failed multi back.
pub type SavedNodes = Vec<(String, Option<Node>)>;

/// All znodes, keyed by full path.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: HashMap<String, Node>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    data_size: usize,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree as ZooKeeper 3.8 starts with: `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config` (read-only ACL, aversion −1).
    /// The root's cversion is −1, as a real 3.8 server reports it before the first
    /// child is created.
    pub fn new() -> DataTree {
        let mut tree = DataTree::empty();
        let mut root = Node::empty(vec![Acl::open_unsafe()]);
        root.cversion = -1;
        tree.insert_raw("/".into(), root);
        let mut zk = Node::empty(vec![Acl::open_unsafe()]);
        zk.children.insert("quota".into());
        zk.children.insert("config".into());
        tree.link_child("/zookeeper");
        tree.insert_raw("/zookeeper".into(), zk);
        tree.insert_raw("/zookeeper/quota".into(), Node::empty(vec![Acl::open_unsafe()]));
        let mut config = Node::empty(vec![Acl::read_unsafe()]);
        config.aversion = -1;
        tree.insert_raw("/zookeeper/config".into(), config);
        tree
    }

    /// A tree with no nodes at all, to be filled from a snapshot.
    pub fn empty() -> DataTree {
        DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
        }
    }

    /// Paths the server itself owns; clients may not delete them.
    pub fn is_reserved(path: &str) -> bool {
        matches!(path, "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config")
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Sum of path and data lengths, like ZooKeeper's `approximateDataSize`.
    pub fn approximate_data_size(&self) -> usize {
        self.data_size
    }

    /// Ephemeral paths owned by `session`.
    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// Sessions owning at least one ephemeral, with their paths.
    pub fn ephemerals_by_session(&self) -> impl Iterator<Item = (&i64, &BTreeSet<String>)> {
        self.ephemerals.iter().filter(|(_, paths)| !paths.is_empty())
    }

    /// Containers and TTL nodes; the sweep decides which are due.
    pub fn sweep_candidates(&self) -> impl Iterator<Item = &String> {
        self.containers.iter().chain(self.ttls.iter())
    }

    /// Number of nodes below `path` (not counting `path` itself).
    pub fn count_descendants(&self, path: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(node) = self.nodes.get(&p) {
                for child in &node.children {
                    count += 1;
                    stack.push(join(&p, child));
                }
            }
        }
        count
    }

    /// All nodes, every parent before its children (snapshot order).
    pub fn preorder(&self) -> Vec<(&str, &Node)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec!["/".to_string()];
        while let Some(p) = stack.pop() {
            if let Some((key, node)) = self.nodes.get_key_value(&p) {
                out.push((key.as_str(), node));
                for child in node.children.iter().rev() {
                    stack.push(join(&p, child));
                }
            }
        }
        out
    }

    fn index_add(&mut self, path: &str, node: &Node) {
        self.data_size += path.len() + node.data_len();
        match node.kind {
            NodeKind::Ephemeral(owner) => {
                self.ephemerals.entry(owner).or_default().insert(path.to_string());
            }
            NodeKind::Container => {
                self.containers.insert(path.to_string());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.to_string());
            }
            NodeKind::Persistent => {}
        }
    }

    fn index_remove(&mut self, path: &str, node: &Node) {
        self.data_size = self.data_size.saturating_sub(path.len() + node.data_len());
        match node.kind {
            NodeKind::Ephemeral(owner) => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Persistent => {}
        }
    }

    fn insert_raw(&mut self, path: String, node: Node) {
        self.index_add(&path, &node);
        if let Some(old) = self.nodes.insert(path.clone(), node) {
            self.index_remove(&path, &old);
        }
    }

    fn remove_raw(&mut self, path: &str) -> Option<Node> {
        let node = self.nodes.remove(path)?;
        self.index_remove(path, &node);
        Some(node)
    }

    fn link_child(&mut self, path: &str) {
        if let Some((parent, name)) = split_parent(path) {
            if let Some(p) = self.nodes.get_mut(parent) {
                p.children.insert(name.to_string());
            }
        }
    }

    /// Inserts a node read from a snapshot; its parent must already be present
    /// (snapshots are written parent first). Children lists are rebuilt here.
    pub fn insert_restored(&mut self, path: String, mut node: Node) -> Result<(), TreeError> {
        node.children.clear();
        if path != "/" {
            let (parent, _) = split_parent(&path).ok_or_else(|| TreeError::BadPath(path.clone()))?;
            if !self.nodes.contains_key(parent) {
                return Err(TreeError::NoNode(parent.to_string()));
            }
            self.link_child(&path);
        }
        self.insert_raw(path, node);
        Ok(())
    }

    /// Creates a node. `parent_cversion` is the parent's new cversion (its old one
    /// plus one, computed when the request was checked).
    #[allow(clippy::too_many_arguments)]
    pub fn create_node(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        kind: NodeKind,
        zxid: i64,
        time: i64,
        parent_cversion: i32,
    ) -> Result<Stat, TreeError> {
        let (parent_path, name) = split_parent(path).ok_or_else(|| TreeError::BadPath(path.to_string()))?;
        if self.nodes.contains_key(path) {
            return Err(TreeError::NodeExists(path.to_string()));
        }
        let parent = self.nodes.get_mut(parent_path).ok_or_else(|| TreeError::NoNode(parent_path.to_string()))?;
        parent.children.insert(name.to_string());
        parent.cversion = parent_cversion;
        parent.pzxid = zxid;
        let node = Node {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            pzxid: zxid,
            kind,
            children: BTreeSet::new(),
        };
        let stat = node.stat();
        self.insert_raw(path.to_string(), node);
        Ok(stat)
    }

    /// Deletes a childless node and bumps its parent's cversion and pzxid.
    pub fn delete_node(&mut self, path: &str, zxid: i64) -> Result<(), TreeError> {
        let (parent_path, name) = split_parent(path).ok_or_else(|| TreeError::BadPath(path.to_string()))?;
        match self.nodes.get(path) {
            None => return Err(TreeError::NoNode(path.to_string())),
            Some(n) if !n.children.is_empty() => return Err(TreeError::NotEmpty(path.to_string())),
            Some(_) => {}
        }
        self.remove_raw(path);
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            parent.children.remove(name);
            parent.cversion = parent.cversion.wrapping_add(1);
            if zxid > parent.pzxid {
                parent.pzxid = zxid;
            }
        }
        Ok(())
    }

    /// Replaces a node's data; `version` is the node's new version.
    pub fn set_data(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        version: i32,
        zxid: i64,
        time: i64,
    ) -> Result<Stat, TreeError> {
        let old_len = self.nodes.get(path).map(Node::data_len).ok_or_else(|| TreeError::NoNode(path.to_string()))?;
        let new_len = data.as_ref().map_or(0, Vec::len);
        self.data_size = self.data_size.saturating_sub(old_len) + new_len;
        let node = self.nodes.get_mut(path).ok_or_else(|| TreeError::NoNode(path.to_string()))?;
        node.data = data;
        node.version = version;
        node.mzxid = zxid;
        node.mtime = time;
        Ok(node.stat())
    }

    /// Replaces a node's ACL; `aversion` is the node's new ACL version.
    pub fn set_acl(&mut self, path: &str, acl: Vec<Acl>, aversion: i32) -> Result<Stat, TreeError> {
        let node = self.nodes.get_mut(path).ok_or_else(|| TreeError::NoNode(path.to_string()))?;
        node.acl = acl;
        node.aversion = aversion;
        Ok(node.stat())
    }

    /// Copies the current state of `paths` so [`DataTree::restore`] can put it back.
    pub fn capture(&self, paths: &[&str]) -> SavedNodes {
        paths.iter().map(|p| (p.to_string(), self.nodes.get(*p).cloned())).collect()
    }

    /// [`DataTree::capture`] of those `paths` not in `done`, which are then added to
    /// it. [`DataTree::restore`] goes newest first, so each node ends up as its
    /// oldest copy had it and a later copy of the same path changes nothing. Copying
    /// each path once per undo scope matters because a create copies its parent with
    /// the parent's whole child list: a multi creating n children under one parent
    /// (a topic's partition states) copied n growing lists, O(n²) memory — 3,000
    /// partitions took some 700 MB that the allocator then kept.
    pub fn capture_once(&self, paths: &[&str], done: &mut HashSet<String>) -> SavedNodes {
        let mut saved = Vec::new();
        for path in paths {
            if !done.contains(*path) {
                done.insert((*path).to_string());
                saved.push((path.to_string(), self.nodes.get(*path).cloned()));
            }
        }
        saved
    }

    /// Puts back copies taken by [`DataTree::capture`], newest capture first.
    pub fn restore(&mut self, saved: SavedNodes) {
        for (path, node) in saved.into_iter().rev() {
            self.remove_raw(&path);
            if let Some(node) = node {
                self.insert_raw(path, node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_validated_like_zookeeper() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/a/..b", "/zookeeper"] {
            assert_eq!(validate_path(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a", "/a/", "//", "/a//b", "/a/./b", "/a/..", "/.", "/a\u{0}b", "/a\u{1}"] {
            assert_eq!(validate_path(bad), Err(ErrorCode::BadArguments), "{bad:?}");
        }
    }

    #[test]
    fn split_and_join() {
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(split_parent("/"), None);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::new();
        let root = t.get("/").map(Node::stat);
        assert_eq!(root.map(|s| (s.cversion, s.num_children)), Some((-1, 1)));
        assert_eq!(t.get("/zookeeper/config").map(|n| n.aversion), Some(-1));
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.count_descendants("/"), 3);
    }

    /// Many creates under one parent copy the parent once, and restoring puts the
    /// tree back as it was before the first of them.
    #[test]
    fn capture_once_copies_a_parent_once_and_restores_the_oldest_state() {
        let mut t = DataTree::new();
        t.create_node("/p", None, vec![], NodeKind::Persistent, 1, 100, 0).expect("create");
        let before = t.get("/p").cloned();
        let mut done = HashSet::new();
        let mut saved = Vec::new();
        for i in 0..50i64 {
            let path = format!("/p/{i}");
            saved.extend(t.capture_once(&[path.as_str(), "/p"], &mut done));
            t.create_node(&path, None, vec![], NodeKind::Ephemeral(9), 2 + i, 100, 0).expect("create");
        }
        assert_eq!(saved.iter().filter(|(p, _)| p == "/p").count(), 1);
        assert_eq!(saved.len(), 51);
        assert_eq!(t.ephemerals_of(9).count(), 50);
        t.restore(saved);
        assert_eq!(t.get("/p").cloned(), before);
        assert!(t.get("/p/0").is_none() && t.get("/p/49").is_none());
        assert_eq!(t.ephemerals_of(9).count(), 0);
    }

    #[test]
    fn create_delete_and_restore() {
        let mut t = DataTree::new();
        let saved = t.capture(&["/a", "/"]);
        t.create_node("/a", Some(b"x".to_vec()), vec![Acl::open_unsafe()], NodeKind::Ephemeral(7), 5, 100, 0)
            .expect("create");
        assert_eq!(t.ephemerals_of(7).count(), 1);
        assert_eq!(t.get("/").map(|n| (n.cversion, n.pzxid)), Some((0, 5)));
        t.restore(saved);
        assert!(t.get("/a").is_none());
        assert_eq!(t.ephemerals_of(7).count(), 0);
        assert_eq!(t.get("/").map(|n| n.children.len()), Some(1));
        t.create_node("/b", None, vec![], NodeKind::Persistent, 6, 100, 0).expect("create");
        t.create_node("/b/c", None, vec![], NodeKind::Persistent, 7, 100, 1).expect("create");
        assert_eq!(t.delete_node("/b", 8), Err(TreeError::NotEmpty("/b".into())));
        t.delete_node("/b/c", 8).expect("delete");
        assert_eq!(t.get("/b").map(|n| (n.cversion, n.pzxid)), Some((2, 8)));
        let order: Vec<&str> = t.preorder().into_iter().map(|(p, _)| p).collect();
        assert_eq!(order.first(), Some(&"/"));
    }
}
