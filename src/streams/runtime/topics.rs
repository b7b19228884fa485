//! Internal topics: which repartition and changelog topics an application
//! needs, with Kafka's names, partition counts and configs; their creation
//! before the threads start; and the checks of the source topics.
//!
//! Partition counts follow Kafka's rules: a repartition topic has the count
//! the topology fixed, else the largest count among the source topics of the
//! subtopology writing it (found by iterating, since that subtopology may
//! itself read repartition topics); a subtopology has as many tasks as its
//! largest source topic has partitions, and each of its changelog topics
//! has one partition per task.

use std::collections::{BTreeMap, BTreeSet};

use crate::client::{Admin, ClientConfig, ClientError, NewTopic, ResponseError};
use crate::streams::error::{Result, StreamsError};
use crate::streams::state::StoreKind;
use crate::streams::topology::Topology;

use super::config::StreamsConfig;

/// One internal topic to create (or check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The cluster name (`<app>-<name>-repartition`, `<app>-<store>-changelog`).
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// What the runtime derives from a topology and the cluster's source topics.
#[derive(Debug, Clone, Default)]
pub struct ResolvedTopics {
    /// Per subtopology id: resolved source topics, its task count, its changelog topics.
    pub subtopologies: BTreeMap<u32, SubtopologyTopics>,
    pub repartition: Vec<InternalTopic>,
    pub changelog: Vec<InternalTopic>,
    /// Every topic the stream threads subscribe to (resolved).
    pub all_sources: BTreeSet<String>,
    /// Resolved copartition groups.
    pub copartition_groups: Vec<BTreeSet<String>>,
    /// Global store → its (resolved) source topic and partition count.
    pub global_sources: BTreeMap<String, (String, i32)>,
}

#[derive(Debug, Clone, Default)]
pub struct SubtopologyTopics {
    pub sources: BTreeSet<String>,
    pub tasks: i32,
    /// (store, changelog topic) of the logged stores.
    pub changelogs: Vec<(String, String)>,
}

/// Kafka's message when source topics are missing.
pub fn missing_source_topics_message(missing: &BTreeSet<String>) -> String {
    format!(
        "One or more source topics were missing during rebalance: {missing:?}. Make sure all source topics have \
         been pre-created before starting the Streams application."
    )
}

/// An admin client from the config's admin keys.
pub async fn admin(config: &StreamsConfig) -> Result<Admin> {
    let mut c = ClientConfig::new(config.bootstrap_servers.clone());
    for (k, v) in config.admin_props()? {
        // Keys of other clients are skipped; the shared ones apply.
        let _ = c.set(&k, &v).map_err(|e| StreamsError::Config { key: k.clone(), message: e.to_string() })?;
    }
    c.client_id = format!("{}-admin", config.client_id.as_deref().unwrap_or(&config.application_id));
    Ok(Admin::connect(c).await?)
}

/// Derives the internal topics from the topology and `counts` (partition
/// counts of the existing topics). Missing source topics are an error.
pub fn resolve(topology: &Topology, config: &StreamsConfig, counts: &BTreeMap<String, i32>) -> Result<ResolvedTopics> {
    let app = &config.application_id;
    let subs = topology.subtopologies();
    let repartition: BTreeSet<&String> = topology.repartition_topics().keys().collect();
    // Missing external source topics (global ones included).
    let mut missing = BTreeSet::new();
    let mut externals: Vec<String> = subs.iter().flat_map(|s| s.source_topics.iter().cloned()).collect();
    for g in topology.global_stores() {
        if let crate::streams::topology::NodeKind::Source(s) = &topology.nodes()[g.source].kind {
            externals.extend(s.topics.iter().cloned());
        }
    }
    for t in &externals {
        if !repartition.contains(t) && !counts.contains_key(t) {
            missing.insert(t.clone());
        }
    }
    if !missing.is_empty() {
        return Err(StreamsError::Topology(missing_source_topics_message(&missing)));
    }
    // Repartition partition counts: fixed, else the max over the writer's sources, to a fixpoint.
    let mut rp: BTreeMap<String, Option<i32>> =
        topology.repartition_topics().iter().map(|(n, r)| (n.clone(), r.partitions)).collect();
    let count_of = |t: &str, rp: &BTreeMap<String, Option<i32>>| -> Option<i32> {
        match rp.get(t) {
            Some(c) => *c,
            None => counts.get(t).copied(),
        }
    };
    for _ in 0..=rp.len() {
        let mut changed = false;
        for s in &subs {
            let writes: Vec<&String> = s.sink_topics.iter().filter(|t| rp.get(*t) == Some(&None)).collect();
            if writes.is_empty() {
                continue;
            }
            let max = s.source_topics.iter().filter_map(|t| count_of(t, &rp)).max();
            if let Some(m) = max {
                for w in writes {
                    rp.insert(w.clone(), Some(m));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Copartitioned repartition topics without a fixed count follow the group's largest.
    for group in topology.copartition_groups() {
        let fixed: BTreeSet<i32> = group
            .iter()
            .filter(|t| !repartition.contains(t) || topology.repartition_topics()[*t].partitions.is_some())
            .filter_map(|t| count_of(t, &rp))
            .collect();
        if fixed.len() > 1 {
            return Err(StreamsError::Topology(format!(
                "Topics not co-partitioned: [{}] have different partition counts {fixed:?}",
                group.iter().cloned().collect::<Vec<_>>().join(",")
            )));
        }
        let target = fixed.into_iter().next().or_else(|| group.iter().filter_map(|t| count_of(t, &rp)).max());
        if let Some(n) = target {
            for t in group {
                if repartition.contains(t) && topology.repartition_topics()[t].partitions.is_none() {
                    rp.insert(t.clone(), Some(n));
                }
            }
        }
    }
    let mut out = ResolvedTopics::default();
    for (name, n) in &rp {
        let partitions = n.ok_or_else(|| {
            StreamsError::Topology(format!("cannot find the partition count of repartition topic {name}"))
        })?;
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "delete".to_string()),
            ("segment.bytes".to_string(), "52428800".to_string()),
            ("retention.ms".to_string(), "-1".to_string()),
        ]);
        out.repartition.push(InternalTopic { name: topology.resolve_topic(app, name), partitions, configs });
    }
    for s in &subs {
        let tasks = s.source_topics.iter().filter_map(|t| count_of(t, &rp)).max().unwrap_or(0);
        let mut st = SubtopologyTopics {
            sources: s.source_topics.iter().map(|t| topology.resolve_topic(app, t)).collect(),
            tasks,
            changelogs: Vec::new(),
        };
        for store in &s.stores {
            let Some(spec) = topology.stores().get(store) else { continue };
            if !spec.logging || topology.global_stores().iter().any(|g| &g.store == store) {
                continue;
            }
            let name = spec.changelog_topic(app);
            let mut configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
            let retention = match spec.kind {
                StoreKind::KeyValue => None,
                StoreKind::Window { retention_ms, .. } | StoreKind::Session { retention_ms } => Some(retention_ms),
            };
            if let Some(r) = retention {
                configs.insert("cleanup.policy".into(), "compact,delete".into());
                let total = r.saturating_add(config.windowstore_changelog_additional_retention_ms);
                configs.insert("retention.ms".into(), total.to_string());
            }
            for (k, v) in &spec.log_config {
                configs.insert(k.clone(), v.clone());
            }
            st.changelogs.push((store.clone(), name.clone()));
            out.changelog.push(InternalTopic { name, partitions: tasks, configs });
        }
        out.all_sources.extend(st.sources.iter().cloned());
        out.subtopologies.insert(s.id, st);
    }
    out.copartition_groups = topology
        .copartition_groups()
        .iter()
        .map(|g| g.iter().map(|t| topology.resolve_topic(app, t)).collect())
        .collect();
    for g in topology.global_stores() {
        if let crate::streams::topology::NodeKind::Source(s) = &topology.nodes()[g.source].kind {
            if let Some(t) = s.topics.first() {
                out.global_sources.insert(g.store.clone(), (t.clone(), counts.get(t).copied().unwrap_or(0)));
            }
        }
    }
    Ok(out)
}

/// Partition counts of every topic in the cluster.
pub async fn partition_counts(admin: &Admin) -> Result<BTreeMap<String, i32>> {
    Ok(admin.describe_topics(None).await?.into_iter().map(|t| (t.name, t.partitions.len() as i32)).collect())
}

/// Creates the missing internal topics; an existing one with another
/// partition count is an error (Kafka's message).
pub async fn ensure(admin: &Admin, config: &StreamsConfig, resolved: &ResolvedTopics) -> Result<()> {
    let mut counts = partition_counts(admin).await?;
    for t in resolved.repartition.iter().chain(resolved.changelog.iter()) {
        if let Some(&actual) = counts.get(&t.name) {
            if actual != t.partitions {
                return Err(StreamsError::Topology(format!(
                    "Existing internal topic {} has invalid partitions: expected: {}; actual: {}. Use \
                     'kafka.tools.StreamsResetter' tool to clean up invalid topics before processing.",
                    t.name, t.partitions, actual
                )));
            }
            continue;
        }
        let mut nt = NewTopic::new(t.name.clone(), t.partitions);
        nt.replication_factor = config.replication_factor;
        nt.configs = t.configs.clone();
        match admin.create_topic(nt, false).await {
            Ok(()) => {
                tracing::info!(topic = t.name, partitions = t.partitions, "created internal topic");
                counts.insert(t.name.clone(), t.partitions);
            }
            // Another instance created it meanwhile.
            Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Wait until every internal topic is visible in metadata with leaders.
    let names: Vec<String> =
        resolved.repartition.iter().chain(resolved.changelog.iter()).map(|t| t.name.clone()).collect();
    if names.is_empty() {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ready = match admin.describe_topics(Some(&names)).await {
            Ok(ds) => ds.iter().all(|d| d.partitions.iter().all(|p| p.leader.is_some())),
            Err(ClientError::Kafka { code: ResponseError::UnknownTopicOrPartition, .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if ready {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(StreamsError::Topology(format!("internal topics {names:?} did not become ready in 60 s")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
    use crate::streams::serde::Serdes;
    use crate::streams::state::StoreSpec;
    use crate::streams::topology::Topology;

    struct Pass;
    impl Processor<String, String, String, String> for Pass {
        fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>) -> Result<()> {
            ctx.forward(r)
        }
    }

    #[test]
    fn internal_topics_get_kafka_names_counts_and_configs() {
        let mut t = Topology::new();
        t.add_source("in", &["input"], Serdes::string(), Serdes::string()).unwrap();
        t.add_processor("p1", processor("p1", || Pass), &["in"]).unwrap();
        t.add_sink("to-rp", "by-key-repartition", Serdes::string(), Serdes::string(), &["p1"]).unwrap();
        t.add_repartition_topic("by-key-repartition", None);
        t.add_source("rp", &["by-key-repartition"], Serdes::string(), Serdes::string()).unwrap();
        t.add_processor("p2", processor("p2", || Pass), &["rp"]).unwrap();
        t.add_state_store(StoreSpec::key_value("counts", Serdes::string(), Serdes::long()), &["p2"]).unwrap();
        t.add_state_store(StoreSpec::window("win", 1000, 5000, false, Serdes::string(), Serdes::long()), &["p2"])
            .unwrap();
        let config = StreamsConfig::new("app", "h:1");
        let counts = BTreeMap::from([("input".to_string(), 3)]);
        let r = resolve(&t, &config, &counts).expect("resolve");
        assert_eq!(r.repartition.len(), 1);
        assert_eq!(r.repartition[0].name, "app-by-key-repartition");
        assert_eq!(r.repartition[0].partitions, 3);
        assert_eq!(r.changelog.len(), 2);
        let c = r.changelog.iter().find(|c| c.name == "app-counts-changelog").expect("kv changelog");
        assert_eq!(c.partitions, 3);
        assert_eq!(c.configs["cleanup.policy"], "compact");
        let w = r.changelog.iter().find(|c| c.name == "app-win-changelog").expect("window changelog");
        assert_eq!(w.configs["cleanup.policy"], "compact,delete");
        assert_eq!(w.configs["retention.ms"], (5000 + 86_400_000).to_string());
        assert!(r.all_sources.contains("app-by-key-repartition") && r.all_sources.contains("input"));
        let err = resolve(&t, &config, &BTreeMap::new()).expect_err("missing input");
        assert!(err.to_string().contains("One or more source topics were missing"), "{err}");
    }
}
