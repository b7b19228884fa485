//! The ACL authorizer end to end on PLAINTEXT brokers, where every client
//! is `User:ANONYMOUS`: refusals with Kafka's codes (librdkafka, our tools),
//! grants through the ACL APIs (confluent-kafka's AdminClient), prefixed
//! ACLs, a deny beating an allow, `allow.everyone.if.no.acl.found`,
//! all-topics Metadata filtering, ACLs surviving a restart and reaching every
//! broker of a cluster.
//!
//! The privileged first step — granting the Cluster ACLs that CreateAcls
//! itself needs — is written straight into ZooKeeper with `zookeeper-shell`,
//! as Kafka's `kafka-acls --authorizer-properties` does; that also shows a
//! broker picking up an ACL written by another process.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::common::zk::{wait_for, TestZk};
use crate::common::{bin_script, python, run_tool, stderr, stdout, TestBroker};

const AUTHORIZER: &str = "authorizer.class.name=acl";
const WAIT: Duration = Duration::from_secs(30);

const ACL_PY: &str = r#"import sys, json
from confluent_kafka.admin import (AdminClient, AclBinding, AclBindingFilter, ResourceType,
    ResourcePatternType, AclOperation, AclPermissionType)
from confluent_kafka import KafkaException
bs, cmd = sys.argv[1], sys.argv[2]
a = AdminClient({'bootstrap.servers': bs})
def rt(s): return ResourceType[s]
def pt(s): return ResourcePatternType[s]
def op(s): return AclOperation[s]
def perm(s): return AclPermissionType[s]
def show(b):
    return f"{b.restype.name} {b.name} {b.resource_pattern_type.name} {b.principal} {b.host} {b.operation.name} {b.permission_type.name}"
try:
    if cmd == 'create':
        t, n, p, pr, h, o, pe = sys.argv[3:10]
        fs = a.create_acls([AclBinding(rt(t), n, pt(p), pr, h, op(o), perm(pe))], request_timeout=20)
        for f in fs.values(): f.result()
        print("ok")
    elif cmd == 'describe':
        f = a.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY), request_timeout=20)
        for b in sorted(f.result(), key=show): print(show(b))
        print("ok")
    elif cmd == 'delete':
        t, n, p = sys.argv[3:6]
        fs = a.delete_acls([AclBindingFilter(rt(t), n, pt(p), None, None, AclOperation.ANY, AclPermissionType.ANY)], request_timeout=20)
        for f in fs.values():
            for b in f.result(): print("deleted", show(b))
        print("ok")
except KafkaException as e:
    err = e.args[0]
    print("error", err.name() if hasattr(err, 'name') else err)
"#;

/// Runs the ACL script (`create …`, `describe`, `delete …`) against `bs`;
/// `None` when confluent-kafka is missing (skip).
fn acl_py(bs: &str, args: &[&str]) -> Option<String> {
    let py = python::confluent_kafka()?;
    let mut all = vec![bs];
    all.extend_from_slice(args);
    let out = python::run(py, ACL_PY, &all, Duration::from_secs(60));
    let text = stdout(&out);
    assert!(text.ends_with("ok\n") || text.starts_with("error"), "acl script: {text}\n{}", stderr(&out));
    Some(text)
}

/// Grants `User:ANONYMOUS` every cluster right (Alter, Describe, Create) by
/// writing the ACL znode directly, as `kafka-acls --authorizer-properties` would.
fn grant_cluster_in_zookeeper(connect: &str) {
    let json = r#"{"version":1,"acls":[{"principal":"User:ANONYMOUS","permissionType":"Allow","operation":"Alter","host":"*"},{"principal":"User:ANONYMOUS","permissionType":"Allow","operation":"Describe","host":"*"},{"principal":"User:ANONYMOUS","permissionType":"Allow","operation":"Create","host":"*"}]}"#;
    for command in [vec!["create", "/kafka-acl/Cluster", ""], vec!["create", "/kafka-acl/Cluster/kafka-cluster", json]]
    {
        let out = bin_script("zookeeper-shell.sh").arg(connect).args(&command).output().expect("zookeeper-shell");
        assert!(out.status.success(), "zookeeper-shell {command:?}: {}{}", stdout(&out), stderr(&out));
    }
}

/// The embedded coordinator's address, from the broker's log.
fn coordinator_of(b: &TestBroker) -> String {
    let log = b.log_text();
    let start = log.find("coordinator=").expect("embedded coordinator line") + "coordinator=".len();
    let rest = &log[start..];
    rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())].to_string()
}

fn admin(bs: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bs).create().expect("admin client")
}

async fn create_topic(bs: &str, name: &str) -> Result<(), RDKafkaErrorCode> {
    let t = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    let res = admin(bs).create_topics(&[t], &AdminOptions::new()).await.expect("create_topics");
    res.into_iter().next().expect("one result").map(|_| ()).map_err(|(_, code)| code)
}

/// Produces one record; the error code librdkafka reports, if any.
async fn produce(bs: &str, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let p: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", bs).set("message.timeout.ms", "15000").create().expect("producer");
    match p.send(FutureRecord::<(), _>::to(topic).payload("v"), Duration::from_secs(15)).await {
        Ok(_) => Ok(()),
        Err((KafkaError::MessageProduction(code), _)) => Err(code),
        Err((e, _)) => panic!("unexpected produce error: {e}"),
    }
}

/// Produces until the outcome is `want` (ACL changes reach the broker
/// through a ZooKeeper watch, and librdkafka caches topic errors briefly).
async fn produce_until(bs: &str, topic: &str, want: Result<(), RDKafkaErrorCode>) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = produce(bs, topic).await;
        if got == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "produce to {topic}: {got:?}, wanted {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn describe_until(bs: &str, wanted: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let ok = wait_for(WAIT, || {
        last = acl_py(bs, &["describe"]).unwrap_or_default();
        wanted(&last)
    });
    assert!(ok, "ACLs never matched; last answer:\n{last}");
    last
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_apis_answer_security_disabled_without_an_authorizer() {
    // (librdkafka drops DescribeAcls' top-level error, so CreateAcls and
    // DeleteAcls, which carry theirs per item, are what it shows.)
    let b = TestBroker::start(&[]);
    let Some(out) = acl_py(&b.bootstrap(), &["create", "TOPIC", "t", "LITERAL", "User:a", "*", "READ", "ALLOW"]) else {
        return;
    };
    assert_eq!(out.trim(), "error SECURITY_DISABLED");
    let out = acl_py(&b.bootstrap(), &["delete", "TOPIC", "t", "LITERAL"]).unwrap();
    assert_eq!(out.trim(), "error SECURITY_DISABLED");
}

#[test]
fn an_unknown_authorizer_class_stops_the_broker() {
    let (code, err) = TestBroker::run_to_exit(&["authorizer.class.name=com.example.Custom"], WAIT);
    assert_ne!(code, Some(0));
    assert!(err.contains("authorizer.class.name"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_without_acls_then_allowed_by_grants_prefixes_and_denies() {
    let mut b =
        TestBroker::start(&[AUTHORIZER, "offsets.topic.replication.factor=1", "group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    // Nothing is allowed without ACLs.
    assert_eq!(create_topic(&bs, "acl-t").await, Err(RDKafkaErrorCode::TopicAuthorizationFailed));
    let tool = run_tool("kafka-topics", &bs, &["--create", "--topic", "acl-t"]);
    assert!(!tool.status.success(), "our kafka-topics must be refused: {}", stdout(&tool));
    assert!(stderr(&tool).to_lowercase().contains("authorization"), "{}", stderr(&tool));
    assert_eq!(produce(&bs, "acl-t").await, Err(RDKafkaErrorCode::TopicAuthorizationFailed));
    let Some(out) = acl_py(&bs, &["create", "TOPIC", "acl-t", "LITERAL", "User:ANONYMOUS", "*", "WRITE", "ALLOW"])
    else {
        return;
    };
    assert_eq!(out.trim(), "error CLUSTER_AUTHORIZATION_FAILED");

    // The cluster rights, written to ZooKeeper by another process, reach the broker.
    grant_cluster_in_zookeeper(&coordinator_of(&b));
    describe_until(&bs, |out| out.contains("BROKER kafka-cluster LITERAL User:ANONYMOUS * CREATE ALLOW"));
    create_topic(&bs, "acl-t").await.expect("Cluster:Create allows topic creation");
    assert_eq!(produce(&bs, "acl-t").await, Err(RDKafkaErrorCode::TopicAuthorizationFailed), "no Write yet");

    // Granted through CreateAcls.
    for op in ["WRITE", "READ"] {
        let out = acl_py(&bs, &["create", "TOPIC", "acl-t", "LITERAL", "User:ANONYMOUS", "*", op, "ALLOW"]).unwrap();
        assert_eq!(out.trim(), "ok");
    }
    let out = acl_py(&bs, &["create", "GROUP", "acl-g", "LITERAL", "User:ANONYMOUS", "*", "READ", "ALLOW"]).unwrap();
    assert_eq!(out.trim(), "ok");
    produce_until(&bs, "acl-t", Ok(())).await;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "acl-g")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["acl-t"]).expect("subscribe");
    let got = wait_for(WAIT, || matches!(consumer.poll(Duration::from_millis(500)), Some(Ok(_))));
    assert!(got, "the consumer in group acl-g reads acl-t");
    drop(consumer);

    // A group without Read is refused.
    let refused: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "other-group")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    refused.subscribe(&["acl-t"]).expect("subscribe");
    let denied = wait_for(WAIT, || match refused.poll(Duration::from_millis(500)) {
        Some(Err(e)) => e.rdkafka_error_code() == Some(RDKafkaErrorCode::GroupAuthorizationFailed),
        _ => false,
    });
    assert!(denied, "GROUP_AUTHORIZATION_FAILED for a group without ACLs");
    drop(refused);

    // A prefixed ACL covers every topic it starts.
    let out = acl_py(&bs, &["create", "TOPIC", "pre-", "PREFIXED", "User:ANONYMOUS", "*", "WRITE", "ALLOW"]).unwrap();
    assert_eq!(out.trim(), "ok");
    create_topic(&bs, "pre-x").await.expect("create pre-x");
    create_topic(&bs, "hidden").await.expect("create hidden");
    produce_until(&bs, "pre-x", Ok(())).await;
    assert_eq!(produce(&bs, "hidden").await, Err(RDKafkaErrorCode::TopicAuthorizationFailed));

    // Metadata for all topics lists only the describable ones (Write implies Describe).
    let listed = stdout(&run_tool("kafka-topics", &bs, &["--list"]));
    assert!(listed.lines().any(|l| l == "acl-t") && listed.lines().any(|l| l == "pre-x"), "{listed}");
    assert!(!listed.lines().any(|l| l == "hidden"), "hidden must not be listed: {listed}");

    // A deny beats the allow.
    let out = acl_py(&bs, &["create", "TOPIC", "acl-t", "LITERAL", "User:ANONYMOUS", "*", "WRITE", "DENY"]).unwrap();
    assert_eq!(out.trim(), "ok");
    produce_until(&bs, "acl-t", Err(RDKafkaErrorCode::TopicAuthorizationFailed)).await;

    // ACLs live in ZooKeeper: a restarted broker has them all.
    b.restart();
    let bs = b.bootstrap();
    let out = describe_until(&bs, |out| out.ends_with("ok\n"));
    assert!(out.contains("TOPIC pre- PREFIXED User:ANONYMOUS * WRITE ALLOW"), "{out}");
    assert!(out.contains("TOPIC acl-t LITERAL User:ANONYMOUS * WRITE DENY"), "{out}");

    // DeleteAcls reports what it removed, and the deny is gone.
    let out = acl_py(&bs, &["delete", "TOPIC", "acl-t", "LITERAL"]).unwrap();
    assert!(out.contains("deleted TOPIC acl-t LITERAL User:ANONYMOUS * WRITE DENY"), "{out}");
    assert_eq!(out.matches("deleted").count(), 3, "{out}");
    let out = acl_py(&bs, &["describe"]).unwrap();
    assert!(!out.contains("TOPIC acl-t"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_everyone_if_no_acl_found_opens_resources_without_acls() {
    let b = TestBroker::start(&[AUTHORIZER, "allow.everyone.if.no.acl.found=true"]);
    let bs = b.bootstrap();
    create_topic(&bs, "open").await.expect("no cluster ACLs: open");
    produce(&bs, "open").await.expect("no topic ACLs: open");
    let Some(out) = acl_py(&bs, &["create", "TOPIC", "open", "LITERAL", "User:bob", "*", "WRITE", "ALLOW"]) else {
        return;
    };
    assert_eq!(out.trim(), "ok");
    // Now the topic has an ACL, and it is not for us.
    produce_until(&bs, "open", Err(RDKafkaErrorCode::TopicAuthorizationFailed)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_reach_every_broker_of_a_cluster() {
    let zk = TestZk::start();
    let extra = [AUTHORIZER, "super.users=User:nobody", "allow.everyone.if.no.acl.found=true"];
    let brokers = crate::common::three_brokers(&zk, &extra);
    let Some(out) =
        acl_py(&brokers[0].bootstrap(), &["create", "GROUP", "g-", "PREFIXED", "User:ANONYMOUS", "*", "READ", "ALLOW"])
    else {
        return;
    };
    assert_eq!(out.trim(), "ok");
    for b in &brokers[1..] {
        describe_until(&b.bootstrap(), |out| out.contains("GROUP g- PREFIXED User:ANONYMOUS * READ ALLOW"));
    }
}
