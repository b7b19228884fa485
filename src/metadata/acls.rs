//! ACL storage in ZooKeeper, in Kafka's `ZkAclStore` layout: one znode per
//! resource pattern holding its entries as JSON (`security::acl` has the
//! formats), read into the cache's [`AclTable`] by the sync task (watches on
//! `/kafka-acl` and `/kafka-acl-extended`), written here.
//!
//! A write is a read-modify-write of the pattern's znode with a version
//! check, in one multi with the change notification Kafka's brokers listen
//! to (`/kafka-acl-changes/acl_changes_<seq>`, or the extended root for
//! prefixed patterns), so a concurrent writer (another broker, Kafka's
//! `kafka-acls --authorizer-properties`) is never overwritten: a lost race is
//! retried on the fresh data. A pattern whose last entry goes is deleted.
//! Our brokers follow the ACL znodes themselves, so the notifications are
//! only for Kafka compatibility; the writer purges those older than Kafka's
//! 15 minutes.

use std::collections::BTreeMap;
use std::sync::Arc;

use zookeeper_client::{self as zkc, Acls, CreateMode, MultiWriteError};

use super::zk_store::ZkStore;
use super::{MetadataError, MetadataStore};
use crate::security::acl::{self, AccessControlEntry, AclBinding, AclBindingFilter, AclTable, ResourcePattern};

/// How often a write is retried after losing a race on the pattern's znode.
const WRITE_ATTEMPTS: usize = 10;
/// Kafka's age after which ACL change notifications are removed.
const NOTIFICATION_EXPIRY_MS: i64 = 15 * 60 * 1000;

fn zk_error(action: &'static str, path: &str, source: zkc::Error) -> MetadataError {
    MetadataError::ZooKeeper { action, path: path.to_string(), source }
}

impl ZkStore {
    /// The entries stored for `pattern` and the znode's data version; `None`
    /// when there is no znode. A malformed znode is an error.
    pub async fn read_acl_entries(
        &self,
        pattern: &ResourcePattern,
    ) -> Result<Option<(Vec<AccessControlEntry>, i32)>, MetadataError> {
        let path = pattern.znode_path();
        match self.client()?.get_data(&path).await {
            Ok((data, stat)) => match acl::decode_entries(&data) {
                Ok(entries) => Ok(Some((entries, stat.version))),
                Err(e) => Err(MetadataError::Corrupt { path, reason: e.0 }),
            },
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_error("read", &path, e)),
        }
    }

    /// Every ACL of the cluster. Malformed znodes are skipped with a warning
    /// (as Kafka's authorizer logs and skips them) so one bad write cannot
    /// stop a broker from starting.
    pub async fn read_all_acls(&self) -> Result<AclTable, MetadataError> {
        let c = self.client()?;
        let mut table = AclTable::default();
        for (pattern_type, dir) in acl::type_dirs() {
            let names = match c.list_children(&dir).await {
                Ok(names) => names,
                Err(zkc::Error::NoNode) => continue,
                Err(e) => return Err(zk_error("list", &dir, e)),
            };
            let Some(resource_type) = acl::pattern_of_path(&format!("{dir}/x")).map(|p| p.resource_type) else {
                continue;
            };
            for name in names {
                let pattern = ResourcePattern::new(resource_type, name, pattern_type);
                match self.read_acl_entries(&pattern).await {
                    Ok(Some((entries, _))) => table.set(pattern, entries),
                    Ok(None) => {}
                    Err(MetadataError::Corrupt { path, reason }) => {
                        tracing::warn!(%path, %reason, "skipping a malformed ACL znode");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(table)
    }

    /// Rewrites `pattern`'s entries with `change` applied to the stored ones
    /// (conditionally on the read version, retried on a race) and writes the
    /// change notification in the same multi. Returns the entries before and
    /// after; nothing is written when `change` leaves them as they were.
    pub async fn change_acls(
        &self,
        pattern: &ResourcePattern,
        change: impl Fn(&[AccessControlEntry]) -> Vec<AccessControlEntry>,
    ) -> Result<(Vec<AccessControlEntry>, Vec<AccessControlEntry>), MetadataError> {
        let path = pattern.znode_path();
        let type_dir = path.rsplit_once('/').map_or(acl::LITERAL_ROOT, |(dir, _)| dir).to_string();
        let sequential = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
        let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let (changes_root, notification) = pattern.change_notification();
        let notification_path = format!("{changes_root}/{}", acl::CHANGE_NODE_PREFIX);
        for _ in 0..WRITE_ATTEMPTS {
            let c = self.client()?;
            let stored = self.read_acl_entries(pattern).await?;
            let before = stored.as_ref().map(|(e, _)| e.clone()).unwrap_or_default();
            let after = change(&before);
            if after == before {
                return Ok((before, after));
            }
            if stored.is_none() {
                // The type directory (`/kafka-acl/Topic`) is created on first use, as Kafka does.
                match c.mkdir(&type_dir, &persistent).await {
                    Ok(()) | Err(zkc::Error::NodeExists) => {}
                    Err(e) => return Err(zk_error("create", &type_dir, e)),
                }
            }
            let mut multi = c.new_multi_writer();
            let prepare = |r: Result<(), zkc::Error>| r.map_err(|e| zk_error("prepare", &path, e));
            let data = acl::encode_entries(&after);
            match (&stored, after.is_empty()) {
                (None, _) => prepare(multi.add_create(&path, &data, &persistent))?,
                (Some((_, version)), true) => prepare(multi.add_delete(&path, Some(*version)))?,
                (Some((_, version)), false) => prepare(multi.add_set_data(&path, &data, Some(*version)))?,
            }
            prepare(multi.add_create(&notification_path, &notification, &sequential))?;
            match multi.commit().await {
                Ok(_) => {
                    self.purge_acl_changes(changes_root).await;
                    return Ok((before, after));
                }
                // Another writer got there first: read again.
                Err(MultiWriteError::OperationFailed {
                    index: 0,
                    source: zkc::Error::NodeExists | zkc::Error::NoNode | zkc::Error::BadVersion,
                }) => {}
                Err(e) => return Err(zk_error("write", &path, e.into())),
            }
        }
        Err(MetadataError::Conflict(path))
    }

    /// Best effort: a failure only leaves old notifications for later.
    async fn purge_acl_changes(&self, root: &str) {
        let Ok(c) = self.client() else { return };
        let Ok(children) = c.list_children(root).await else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        for child in children.into_iter().filter(|n| n.starts_with(acl::CHANGE_NODE_PREFIX)) {
            let path = format!("{root}/{child}");
            if let Ok(Some(stat)) = c.check_stat(&path).await {
                if now - stat.ctime > NOTIFICATION_EXPIRY_MS {
                    let _ = c.delete(&path, None).await;
                }
            }
        }
    }
}

impl MetadataStore {
    /// The cluster's ACLs as this broker's cache holds them.
    pub fn acls(&self) -> Arc<AclTable> {
        self.view().acls.clone()
    }

    /// Adds `entries` to `pattern`'s stored ACLs (those already there are
    /// kept once) and shows the result in this broker's cache at once, so a
    /// DescribeAcls right after sees it.
    pub async fn add_acls(
        &self,
        pattern: &ResourcePattern,
        entries: &[AccessControlEntry],
    ) -> Result<(), MetadataError> {
        let (_, after) = self
            .shared
            .zk
            .change_acls(pattern, |stored| {
                let mut out = stored.to_vec();
                for e in entries {
                    if !out.contains(e) {
                        out.push(e.clone());
                    }
                }
                out
            })
            .await?;
        self.shared.cache.update(|v| Arc::make_mut(&mut v.acls).set(pattern.clone(), after));
        Ok(())
    }

    /// Removes the entries selected by any of `filters` from every pattern
    /// they select. Returns, per filter, the bindings it deleted (a binding
    /// selected by two filters is reported by both, as Kafka does) or the
    /// error of a pattern it touched.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Vec<Result<Vec<AclBinding>, MetadataError>> {
        let mut results: Vec<Result<Vec<AclBinding>, MetadataError>> = filters.iter().map(|_| Ok(Vec::new())).collect();
        // The patterns to visit come from the cache; each is re-read from ZooKeeper.
        let patterns: BTreeMap<ResourcePattern, Vec<usize>> = {
            let acls = self.acls();
            let mut patterns: BTreeMap<ResourcePattern, Vec<usize>> = BTreeMap::new();
            for binding in acls.bindings() {
                for (i, f) in filters.iter().enumerate() {
                    if f.matches(&binding) {
                        patterns.entry(binding.pattern.clone()).or_default().push(i);
                    }
                }
            }
            patterns
        };
        for (pattern, selecting) in patterns {
            let selecting: Vec<usize> = {
                let mut s = selecting;
                s.dedup();
                s
            };
            let written = self
                .shared
                .zk
                .change_acls(&pattern, |stored| {
                    stored
                        .iter()
                        .filter(|e| {
                            let b = AclBinding { pattern: pattern.clone(), entry: (*e).clone() };
                            !selecting.iter().any(|i| filters[*i].matches(&b))
                        })
                        .cloned()
                        .collect()
                })
                .await;
            match written {
                Ok((before, after)) => {
                    for entry in before.iter().filter(|e| !after.contains(e)) {
                        let binding = AclBinding { pattern: pattern.clone(), entry: entry.clone() };
                        for i in &selecting {
                            if let Ok(deleted) = &mut results[*i] {
                                if filters[*i].matches(&binding) {
                                    deleted.push(binding.clone());
                                }
                            }
                        }
                    }
                    self.shared.cache.update(|v| Arc::make_mut(&mut v.acls).set(pattern.clone(), after));
                }
                Err(e) => {
                    let message = e.to_string();
                    for i in &selecting {
                        results[*i] = Err(MetadataError::Invalid(message.clone()));
                    }
                }
            }
        }
        results
    }
}
