//! SASL on a SASL_PLAINTEXT listener: PLAIN and SCRAM-SHA-256/512 with kcat, rdkafka and our
//! own tools; Kafka's answers to an unknown mechanism, requests before authentication and
//! malformed SASL frames (each closes only its own connection); session expiry with
//! `connections.max.reauth.ms`; and a three-broker cluster replicating over SASL.
//!
//! The SASL listener is listed first: it is the endpoint Metadata hands out, so clients that
//! bootstrap on it stay on it.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::wire::Wire;
use crate::common::zk::TestZk;
use crate::common::{gregor_bin, TestBroker};
use gregor::security::scram::{sanitize_user, ScramCredential, ScramMechanism, UserConfigZnode};

const PLAIN_JAAS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

fn sasl_broker(zk: Option<&TestZk>, extra: &[&str]) -> TestBroker {
    let mut o: Vec<String> = vec![
        "listeners=SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into(),
        "inter.broker.listener.name=PLAINTEXT".into(),
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
        PLAIN_JAAS.into(),
        "num.partitions=1".into(),
        "offsets.topic.replication.factor=1".into(),
        "group.initial.rebalance.delay.ms=0".into(),
    ];
    if let Some(zk) = zk {
        o.push(format!("zookeeper.connect={}", zk.connect("")));
    }
    o.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = o.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn kcat() -> Option<String> {
    let found = Command::new("sh").arg("-c").arg("command -v kcat || command -v kafkacat").output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).lines().next()?.trim().to_string();
    if path.is_empty() {
        eprintln!("SKIPPED: kcat is not installed (apt-get install kcat)");
        assert!(std::env::var_os("CI").is_none(), "kcat must be installed in CI");
        return None;
    }
    Some(path)
}

fn kcat_run(
    kcat: &str,
    bootstrap: &str,
    mechanism: &str,
    user: &str,
    password: &str,
    args: &[&str],
    input: Option<&str>,
) -> Output {
    let mut cmd = Command::new(kcat);
    cmd.args(["-b", bootstrap, "-X", "security.protocol=SASL_PLAINTEXT"])
        .arg("-X")
        .arg(format!("sasl.mechanisms={mechanism}"))
        .arg("-X")
        .arg(format!("sasl.username={user}"))
        .arg("-X")
        .arg(format!("sasl.password={password}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kcat");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(text) = input {
            let _ = stdin.write_all(text.as_bytes());
        }
    }
    child.wait_with_output().expect("kcat")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Produces three lines and reads them back with kcat; then a wrong password is refused.
fn kcat_round_trip(kcat: &str, b: &TestBroker, mechanism: &str, user: &str, password: &str, topic: &str) {
    let bs = b.bootstrap();
    let out =
        kcat_run(kcat, &bs, mechanism, user, password, &["-P", "-t", topic, "-p", "0"], Some("one\ntwo\nthree\n"));
    if text(&out).contains("No provider for SASL mechanism") {
        // A kcat built without OpenSSL/Cyrus SASL speaks PLAIN only.
        eprintln!("SKIPPED: this kcat has no {mechanism}: {}", text(&out));
        return;
    }
    assert!(out.status.success(), "kcat -P {mechanism}: {}", text(&out));
    let out = kcat_run(
        kcat,
        &bs,
        mechanism,
        user,
        password,
        &["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"],
        None,
    );
    assert!(out.status.success(), "kcat -C {mechanism}: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["one", "two", "three"]);
    let out = kcat_run(kcat, &bs, mechanism, user, "wrong-secret", &["-L", "-m", "3"], None);
    assert!(!out.status.success(), "a wrong password must fail: {}", text(&out));
    assert!(text(&out).contains("Authentication failed"), "{mechanism}: {}", text(&out));
}

fn client_properties(dir: &std::path::Path, name: &str, mechanism: &str, user: &str, password: &str) -> String {
    let module = if mechanism == "PLAIN" { "plain.PlainLoginModule" } else { "scram.ScramLoginModule" };
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\nsasl.jaas.config=org.apache.kafka.common.security.{module} required username=\"{user}\" password=\"{password}\";\n"
        ),
    )
    .expect("write properties");
    path.display().to_string()
}

fn tool(args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(gregor_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gregor");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(t) = input {
            let _ = stdin.write_all(t.as_bytes());
        }
    }
    child.wait_with_output().expect("gregor tool")
}

#[test]
fn plain_with_kcat_rdkafka_and_our_tools() {
    let b = sasl_broker(None, &[]);
    let bs = b.bootstrap();
    if let Some(kcat) = kcat() {
        kcat_round_trip(&kcat, &b, "PLAIN", "alice", "alice-secret", "plain-kcat");
    }

    // rdkafka (bundled librdkafka: PLAIN needs no SSL).
    {
        use rdkafka::config::ClientConfig;
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
        use rdkafka::Message;
        let sasl = |c: &mut ClientConfig, pw: &str| {
            c.set("bootstrap.servers", &bs)
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanisms", "PLAIN")
                .set("sasl.username", "alice")
                .set("sasl.password", pw);
        };
        let mut c = ClientConfig::new();
        sasl(&mut c, "alice-secret");
        let producer: ThreadedProducer<DefaultProducerContext> = c.create().expect("producer");
        for i in 0..3 {
            let v = format!("r{i}");
            producer.send(BaseRecord::<(), _>::to("plain-rdkafka").partition(0).payload(&v)).expect("enqueue");
        }
        producer.flush(Duration::from_secs(60)).expect("flush");
        let mut c = ClientConfig::new();
        sasl(&mut c, "alice-secret");
        let consumer: BaseConsumer =
            c.set("group.id", "sasl-test").set("auto.offset.reset", "earliest").create().expect("consumer");
        consumer.subscribe(&["plain-rdkafka"]).expect("subscribe");
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while got.len() < 3 && std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
                got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        assert_eq!(got, ["r0", "r1", "r2"]);
        let mut c = ClientConfig::new();
        sasl(&mut c, "wrong-secret");
        let bad: BaseConsumer = c.create().expect("consumer");
        assert!(bad.fetch_metadata(None, Duration::from_secs(3)).is_err(), "a wrong password must fail");
    }

    // Our tools with --producer.config / --consumer.config / --command-config.
    let dir = tempfile::tempdir().expect("tempdir");
    let good = client_properties(dir.path(), "good.properties", "PLAIN", "alice", "alice-secret");
    tools_round_trip(&bs, "plain-cli", &good, ["a", "b"]);
    let bad = client_properties(dir.path(), "bad.properties", "PLAIN", "alice", "wrong-secret");
    let out = tool(&["kafka-broker-api-versions", "--bootstrap-server", &bs, "--command-config", &bad], None);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Invalid username or password"), "{}", text(&out));

    let log = b.log_text();
    assert!(log.contains("Failed authentication") && log.contains("alice"), "{log}");
    assert!(!log.contains("wrong-secret") && !log.contains("alice-secret"), "a password reached the log:\n{log}");
}

/// Produces `lines` with the console producer and reads them back with the
/// console consumer, both configured by the client properties file `props`.
fn tools_round_trip(bs: &str, topic: &str, props: &str, lines: [&str; 2]) {
    let input = format!("{}\n{}\n", lines[0], lines[1]);
    let out = tool(
        &["kafka-console-producer", "--bootstrap-server", bs, "--topic", topic, "--producer.config", props],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out));
    let consumer = [
        "kafka-console-consumer",
        "--bootstrap-server",
        bs,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "2",
        "--consumer.config",
        props,
    ];
    let out = tool(&consumer, None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), lines);
}

/// Writes `/config/users/<user>` with credentials for both SCRAM mechanisms, as
/// `kafka-configs --zookeeper … --entity-type users` does.
fn create_scram_user(zk: &TestZk, user: &str, password: &str) {
    let mut znode = UserConfigZnode::default();
    for m in ScramMechanism::ALL {
        znode.set_credential(m, &ScramCredential::generate(m, password, 4096).expect("credential"));
    }
    let connect = zk.connect("");
    let path = format!("/config/users/{}", sanitize_user(user));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client = zookeeper_client::Client::connect(&connect).await.expect("zk connect");
        let mode = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
        for parent in ["/config", "/config/users"] {
            match client.create(parent, b"", &mode).await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
                Err(e) => panic!("create {parent}: {e}"),
            }
        }
        match client.create(&path, &znode.encode(), &mode).await {
            Ok(_) => {}
            Err(zookeeper_client::Error::NodeExists) => {
                client.set_data(&path, &znode.encode(), None).await.expect("set user");
            }
            Err(e) => panic!("create {path}: {e}"),
        }
    });
}

#[test]
fn scram_sha_256_and_512_with_kcat_rdkafka_kafka_python_and_our_client() {
    let zk = TestZk::start();
    create_scram_user(&zk, "carol", "carol-secret");
    let b = sasl_broker(Some(&zk), &[]);
    let bs = b.bootstrap();
    if let Some(kcat) = kcat() {
        kcat_round_trip(&kcat, &b, "SCRAM-SHA-256", "carol", "carol-secret", "scram-256");
        kcat_round_trip(&kcat, &b, "SCRAM-SHA-512", "carol", "carol-secret", "scram-512");
    }
    // librdkafka through rdkafka (built with OpenSSL, which its SCRAM needs).
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        use rdkafka::config::ClientConfig;
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
        use rdkafka::Message;
        let topic = format!("rdkafka-{}", mechanism.to_ascii_lowercase());
        let scram = |pw: &str| {
            let mut c = ClientConfig::new();
            c.set("bootstrap.servers", &bs)
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanisms", mechanism)
                .set("sasl.username", "carol")
                .set("sasl.password", pw);
            c
        };
        let producer: ThreadedProducer<DefaultProducerContext> = scram("carol-secret").create().expect("producer");
        producer.send(BaseRecord::<(), _>::to(&topic).partition(0).payload("s1")).expect("enqueue");
        producer.flush(Duration::from_secs(60)).expect("flush");
        let consumer: BaseConsumer = scram("carol-secret")
            .set("group.id", format!("g-{topic}"))
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut got = None;
        while got.is_none() && std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
                got = Some(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        assert_eq!(got.as_deref(), Some("s1"), "rdkafka {mechanism}");
        let bad: BaseConsumer = scram("wrong-secret").create().expect("consumer");
        assert!(
            bad.fetch_metadata(None, Duration::from_secs(3)).is_err(),
            "rdkafka {mechanism}: a wrong password must fail"
        );
    }
    if let Some(python) = crate::common::python::kafka_python() {
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            let out =
                crate::common::python::run(python, KAFKA_PYTHON_SCRAM, &[&bs, mechanism], Duration::from_secs(120));
            let printed = text(&out);
            assert!(printed.contains("GOT ['p1', 'p2']"), "kafka-python {mechanism}: {printed}");
            if mechanism == "SCRAM-SHA-256" {
                // kafka-python takes 30 s to give up on a refused bootstrap: once is enough.
                assert!(printed.contains("WRONG PASSWORD REFUSED"), "kafka-python {mechanism}: {printed}");
            }
        }
    }
    // A user created while the broker runs is picked up by the watch.
    create_scram_user(&zk, "dave@example", "dave-secret");
    let dir = tempfile::tempdir().expect("tempdir");
    let good = client_properties(dir.path(), "good.properties", "SCRAM-SHA-512", "dave@example", "dave-secret");
    let mut listed = false;
    for _ in 0..60 {
        let out = tool(&["kafka-broker-api-versions", "--bootstrap-server", &bs, "--command-config", &good], None);
        if out.status.success() {
            listed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(listed, "dave@example never authenticated");
    let out = tool(
        &["kafka-console-producer", "--bootstrap-server", &bs, "--topic", "scram-cli", "--producer.config", &good],
        Some("x\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let bad = client_properties(dir.path(), "bad.properties", "SCRAM-SHA-256", "dave@example", "wrong-secret");
    let out = tool(&["kafka-broker-api-versions", "--bootstrap-server", &bs, "--command-config", &bad], None);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("due to invalid credentials with SASL mechanism SCRAM-SHA-256"), "{}", text(&out));
    let log = b.log_text();
    assert!(!log.contains("wrong-secret") && !log.contains("carol-secret"), "{log}");
}

/// kafka-python: produce two records and read them back as carol, then fail with a wrong
/// password. argv: bootstrap, mechanism.
const KAFKA_PYTHON_SCRAM: &str = r#"
import sys
from kafka import KafkaProducer, KafkaConsumer
bs, mech = sys.argv[1], sys.argv[2]
topic = "py-" + mech.lower()
auth = dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mech, sasl_plain_username="carol")
p = KafkaProducer(bootstrap_servers=bs, sasl_plain_password="carol-secret", **auth)
for v in (b"p1", b"p2"):
    p.send(topic, v, partition=0).get(timeout=60)
p.close()
c = KafkaConsumer(topic, bootstrap_servers=bs, sasl_plain_password="carol-secret", auto_offset_reset="earliest",
                  consumer_timeout_ms=20000, **auth)
got = []
for m in c:
    got.append(m.value.decode())
    if len(got) == 2:
        break
c.close()
print("GOT", got, flush=True)
if mech != "SCRAM-SHA-256":
    sys.exit(0)
try:
    KafkaProducer(bootstrap_servers=bs, sasl_plain_password="wrong-secret", **auth).close()
    print("WRONG PASSWORD ACCEPTED")
except Exception as e:
    print("WRONG PASSWORD REFUSED", type(e).__name__, e)
"#;

fn handshake(w: &mut Wire, mechanism: &str, version: i16) -> SaslHandshakeResponse {
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
    w.call(ApiKey::SaslHandshake, version, &req)
}

fn authenticate(w: &mut Wire, bytes: &[u8]) -> SaslAuthenticateResponse {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(bytes.to_vec().into());
    w.call(ApiKey::SaslAuthenticate, 1, &req)
}

fn plain_login(w: &mut Wire) -> SaslAuthenticateResponse {
    assert_eq!(handshake(w, "PLAIN", 1).error_code, 0);
    authenticate(w, b"\0alice\0alice-secret")
}

fn raw_frame(bytes: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u32(bytes.len() as u32);
    b.put_slice(bytes);
    b.to_vec()
}

#[test]
fn unknown_mechanism_early_requests_and_malformed_frames_close_only_their_connection() {
    let b = sasl_broker(None, &[]);
    let addr = b.listener_addr("SASL_PLAINTEXT");
    let mut good = Wire::connect(addr);
    assert_eq!(plain_login(&mut good).error_code, 0);
    let metadata = MetadataRequest::default().with_topics(None);
    let check_good = |good: &mut Wire| {
        let _: kafka_protocol::messages::MetadataResponse = good.call(ApiKey::Metadata, 9, &metadata);
    };

    // Unknown mechanism: 33 with the enabled list, then closed.
    let mut w = Wire::connect(addr);
    let resp = handshake(&mut w, "GSSAPI", 1);
    assert_eq!(resp.error_code, 33);
    let offered: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(w.is_closed());

    // A request before authentication: closed without an answer.
    let mut w = Wire::connect(addr);
    w.send(ApiKey::Metadata, 9, &metadata);
    assert!(w.is_closed());

    // Truncated PLAIN token: 58, then closed.
    let mut w = Wire::connect(addr);
    assert_eq!(handshake(&mut w, "PLAIN", 1).error_code, 0);
    let resp = authenticate(&mut w, b"\0alice");
    assert_eq!(resp.error_code, 58);
    assert!(w.is_closed());

    // Garbage SCRAM client-first: 58, then closed.
    let mut w = Wire::connect(addr);
    assert_eq!(handshake(&mut w, "SCRAM-SHA-256", 1).error_code, 0);
    assert_eq!(authenticate(&mut w, b"\xff\x00garbage,,").error_code, 58);
    assert!(w.is_closed());

    // v0 handshake, then a 1-byte raw token: closed.
    let mut w = Wire::connect(addr);
    assert_eq!(handshake(&mut w, "PLAIN", 0).error_code, 0);
    w.send_raw(&raw_frame(b"x"));
    assert!(w.is_closed());

    // v0 handshake with a good raw token: an empty raw answer, then requests work.
    let mut w = Wire::connect(addr);
    assert_eq!(handshake(&mut w, "PLAIN", 0).error_code, 0);
    w.send_raw(&raw_frame(b"\0alice\0alice-secret"));
    assert_eq!(w.read_frame().expect("raw answer").len(), 0);
    check_good(&mut w);

    // A pre-authentication frame larger than sasl.server.max.receive.size: closed.
    let mut w = Wire::connect(addr);
    w.send_raw(&(600_000u32).to_be_bytes());
    assert!(w.is_closed());

    // The authenticated connection never noticed.
    check_good(&mut good);
    // And the PLAINTEXT listener answers SaslHandshake with ILLEGAL_SASL_STATE.
    let mut w = Wire::connect(b.listener_addr("PLAINTEXT"));
    assert_eq!(handshake(&mut w, "PLAIN", 1).error_code, 34);
    let log = b.log_text();
    assert!(!log.contains("alice-secret"), "{log}");
}

#[test]
fn session_expiry_closes_idle_sessions_and_clients_keep_working() {
    let b = sasl_broker(None, &["connections.max.reauth.ms=2000"]);
    let addr = b.listener_addr("SASL_PLAINTEXT");
    let mut w = Wire::connect(addr);
    let resp = plain_login(&mut w);
    assert_eq!((resp.error_code, resp.session_lifetime_ms), (0, 2000));
    // Re-authentication on the live connection (same user) renews the session.
    assert_eq!(plain_login(&mut w).error_code, 0);
    // Past the lifetime, any other request closes the connection.
    std::thread::sleep(Duration::from_millis(2500));
    w.send(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
    assert!(w.is_closed());

    // Our producer keeps producing across several lifetimes (it rotates connections).
    let dir = tempfile::tempdir().expect("tempdir");
    let props = client_properties(dir.path(), "c.properties", "PLAIN", "alice", "alice-secret");
    let mut child = Command::new(gregor_bin())
        .args([
            "kafka-console-producer",
            "--bootstrap-server",
            &b.bootstrap(),
            "--topic",
            "reauth",
            "--producer.config",
            &props,
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("producer");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..6 {
            writeln!(stdin, "m{i}").expect("write");
            stdin.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(1000));
        }
    }
    let out = child.wait_with_output().expect("producer");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tool(
        &[
            "kafka-console-consumer",
            "--bootstrap-server",
            &b.bootstrap(),
            "--topic",
            "reauth",
            "--from-beginning",
            "--max-messages",
            "6",
            "--consumer.config",
            &props,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(got, (0..6).map(|i| format!("m{i}")).collect::<Vec<_>>());

    // kcat (librdkafka 2.0.2 does not re-authenticate) reconnects after the broker closes.
    if let Some(kcat) = kcat() {
        let bs = b.bootstrap();
        let out = kcat_run(
            &kcat,
            &bs,
            "PLAIN",
            "alice",
            "alice-secret",
            &["-P", "-t", "reauth-kcat", "-p", "0"],
            Some("k1\n"),
        );
        assert!(out.status.success(), "{}", text(&out));
        std::thread::sleep(Duration::from_millis(2500));
        let out = kcat_run(
            &kcat,
            &bs,
            "PLAIN",
            "alice",
            "alice-secret",
            &["-C", "-t", "reauth-kcat", "-p", "0", "-o", "beginning", "-e", "-q"],
            None,
        );
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "k1");
    }
}

/// Three brokers whose only listener is SASL_PLAINTEXT, so replication, controller traffic
/// and clients all authenticate; the inter-broker login uses `mechanism`.
fn sasl_cluster_reaches_full_isr(mechanism: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let zk = TestZk::start();
    create_scram_user(&zk, "admin", "admin-secret");
    let jaas = PLAIN_JAAS.replace("listener.name.sasl_plaintext.", "");
    let plain_jaas = format!("listener.name.sasl_plaintext.{jaas}");
    let scram_jaas = "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"admin-secret\";";
    let inter = format!("sasl.mechanism.inter.broker.protocol={mechanism}");
    let extra = [
        "listeners=SASL_PLAINTEXT://127.0.0.1:0",
        "security.inter.broker.protocol=SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        plain_jaas.as_str(),
        scram_jaas,
        inter.as_str(),
    ];
    let brokers = crate::common::three_brokers(&zk, &extra);
    let bs = crate::common::bootstrap_of(&brokers);
    let config = || {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &bs)
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanisms", "PLAIN")
            .set("sasl.username", "alice")
            .set("sasl.password", "alice-secret");
        c
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let admin: AdminClient<DefaultClientContext> = config().create().expect("admin");
    let topic = format!("replicated-{}", mechanism.to_lowercase());
    rt.block_on(async {
        let created = admin
            .create_topics(&[NewTopic::new(&topic, 1, TopicReplication::Fixed(3))], &AdminOptions::new())
            .await
            .expect("create_topics");
        assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    });
    let full_isr = crate::common::zk::wait_for(Duration::from_secs(90), || {
        admin
            .inner()
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .ok()
            .and_then(|md| md.topics().first().and_then(|t| t.partitions().first().map(|p| p.isr().len())))
            == Some(3)
    });
    assert!(full_isr, "the ISR never reached 3 brokers with {mechanism} inter-broker authentication");
    let producer: FutureProducer = config().set("acks", "all").create().expect("producer");
    rt.block_on(async {
        producer
            .send(FutureRecord::<(), _>::to(&topic).partition(0).payload("replicated"), Duration::from_secs(60))
            .await
            .expect("acks=all produce");
    });
    for b in &brokers {
        let log = b.log_text();
        assert!(!log.contains("admin-secret") && !log.contains("alice-secret"), "{log}");
    }
}

#[test]
fn three_brokers_replicate_with_plain_inter_broker_login() {
    sasl_cluster_reaches_full_isr("PLAIN");
}

#[test]
fn three_brokers_replicate_with_scram_sha_512_inter_broker_login() {
    sasl_cluster_reaches_full_isr("SCRAM-SHA-512");
}

#[test]
fn startup_errors_name_the_key_and_never_echo_a_password() {
    let listeners = "listeners=SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0";
    let ib = "inter.broker.listener.name=PLAINTEXT";
    // Kafka's default mechanism is GSSAPI, which gregor does not implement.
    let (code, log) = TestBroker::run_to_exit(&[listeners, ib], Duration::from_secs(60));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("sasl.enabled.mechanisms") && log.contains("GSSAPI"), "{log}");
    // PLAIN without a user table.
    let (code, log) =
        TestBroker::run_to_exit(&[listeners, ib, "sasl.enabled.mechanisms=PLAIN"], Duration::from_secs(60));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("listener.name.sasl_plaintext.plain.sasl.jaas.config"), "{log}");
    // A JAAS line that does not parse: the position, not the value.
    let bad = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"s3cret-value";
    let (code, log) =
        TestBroker::run_to_exit(&[listeners, ib, "sasl.enabled.mechanisms=PLAIN", bad], Duration::from_secs(60));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("unterminated quoted value") && !log.contains("s3cret-value"), "{log}");
}

#[test]
fn sasl_ssl_round_trip_with_our_tools_and_kcat() {
    let pki = crate::common::tls::TestPki::new();
    let mut overrides = vec![
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0".to_string(),
        "num.partitions=1".to_string(),
        "listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN".to_string(),
        PLAIN_JAAS.replace("listener.name.sasl_plaintext.", "listener.name.sasl_ssl."),
    ];
    overrides.extend(pki.broker_overrides());
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let b = TestBroker::start(&refs);
    let bs = b.listener_addr("SASL_SSL").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let props = |name: &str, password: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "security.protocol=SASL_SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\nsasl.mechanism=PLAIN\n\
                 sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"{password}\";\n",
                pki.ca.display()
            ),
        )
        .expect("write properties");
        path.display().to_string()
    };
    let good = props("good.properties", "alice-secret");
    tools_round_trip(&bs, "sasl-ssl", &good, ["s1", "s2"]);
    let bad = props("bad.properties", "wrong-secret");
    let out = tool(&["kafka-broker-api-versions", "--bootstrap-server", &bs, "--command-config", &bad], None);
    assert!(!out.status.success() && text(&out).contains("Invalid username or password"), "{}", text(&out));
    if let Some(kcat) = kcat() {
        let ca = format!("ssl.ca.location={}", pki.ca.display());
        let out = Command::new(&kcat)
            .args(["-b", &bs, "-X", "security.protocol=SASL_SSL", "-X", &ca, "-X", "sasl.mechanisms=PLAIN"])
            .args(["-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"])
            .args(["-C", "-t", "sasl-ssl", "-p", "0", "-o", "beginning", "-e", "-q"])
            .output()
            .expect("kcat");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["s1", "s2"]);
    }
}
