//! TLS listeners: a broker with a PLAINTEXT and an SSL listener side by side, reached over
//! TLS by our own tools (`--command-config`, `--producer.config`, `--consumer.config`) and by
//! Debian's kcat (librdkafka with OpenSSL); a wrong CA and a missing client certificate
//! (with `ssl.client.auth=required`) are refused while the broker keeps serving others;
//! Metadata on the SSL listener answers SSL endpoints; and a three-broker cluster with SSL
//! listeners only replicates over TLS between brokers.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::tls::TestPki;
use crate::common::{gregor_bin, pipe_into, stderr, stdout, three_brokers, zk, TestBroker};

/// `cargo test` puts build-script library directories on `LD_LIBRARY_PATH`, among them the
/// rdkafka dev-dependency's librdkafka (built without OpenSSL); kcat must load Debian's.
fn kcat_cmd(kcat: &str) -> Command {
    let mut cmd = Command::new(kcat);
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd
}

fn kcat() -> Option<String> {
    let found = Command::new("sh").arg("-c").arg("command -v kcat || command -v kafkacat").output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).lines().next()?.trim().to_string();
    (!path.is_empty()).then_some(path)
}

/// A broker with `PLAINTEXT` and `SSL` listeners and `extra` overrides.
fn ssl_broker(pki: &TestPki, extra: &[&str]) -> TestBroker {
    let mut overrides =
        vec!["listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(), "num.partitions=1".to_string()];
    overrides.extend(pki.broker_overrides());
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn tool(args: &[&str]) -> std::process::Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").output().expect("run gregor")
}

fn produce(bs: &str, topic: &str, config: &Path, lines: &str) -> std::process::Output {
    let mut cmd = Command::new(gregor_bin());
    cmd.args(["console-producer", "--bootstrap-server", bs, "--topic", topic, "--producer.config"])
        .arg(config)
        .env("NO_COLOR", "1");
    pipe_into(cmd, lines)
}

fn consume(bs: &str, topic: &str, config: &Path, n: usize) -> std::process::Output {
    Command::new(gregor_bin())
        .args(["console-consumer", "--bootstrap-server", bs, "--topic", topic, "--from-beginning"])
        .args(["--max-messages", &n.to_string(), "--timeout-ms", "30000", "--consumer.config"])
        .arg(config)
        .env("NO_COLOR", "1")
        .output()
        .expect("console-consumer")
}

#[test]
fn our_tools_round_trip_over_tls_and_metadata_answers_ssl_endpoints() {
    let pki = TestPki::new();
    let broker = ssl_broker(&pki, &[]);
    let ssl = broker.listener_addr("SSL").to_string();
    let plain = broker.listener_addr("PLAINTEXT").to_string();
    let props = pki.client_properties(&broker.dir, &pki.ca, false);

    let out = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &ssl, "--create", "--topic", "secure", "--partitions", "1"])
        .arg("--command-config")
        .arg(&props)
        .output()
        .expect("topics");
    assert!(out.status.success(), "topics --create over TLS: {}", stderr(&out));

    let out = produce(&ssl, "secure", &props, "one\ntwo\nthree\n");
    assert!(out.status.success(), "producer over TLS: {}", stderr(&out));
    let out = consume(&ssl, "secure", &props, 3);
    assert!(out.status.success(), "consumer over TLS: {}", stderr(&out));
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), ["one", "two", "three"]);

    // Metadata through the SSL listener names the SSL port, through PLAINTEXT the plaintext one.
    let out = Command::new(gregor_bin())
        .args(["broker-api-versions", "--bootstrap-server", &ssl, "--command-config"])
        .arg(&props)
        .output()
        .expect("broker-api-versions");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&ssl), "SSL listener answers its own endpoint: {}", stdout(&out));
    let out = tool(&["broker-api-versions", "--bootstrap-server", &plain]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&plain) && !stdout(&out).contains(&ssl), "{}", stdout(&out));

    // A plaintext client on the TLS port fails; the broker goes on serving TLS clients.
    let quick = broker.dir.join("plaintext-quick.properties");
    std::fs::write(&quick, "request.timeout.ms=3000\n").expect("write properties");
    let out = Command::new(gregor_bin())
        .args(["broker-api-versions", "--bootstrap-server", &ssl, "--command-config"])
        .arg(&quick)
        .output()
        .expect("broker-api-versions");
    assert!(!out.status.success() || stdout(&out).contains("ERROR"), "plaintext on the SSL port must fail");
    let out = consume(&ssl, "secure", &props, 3);
    assert!(out.status.success(), "consumer after a bad client: {}", stderr(&out));
    let log = broker.log_text();
    assert!(log.contains("SSL handshake failed"), "the broker logs the failed handshake:\n{log}");
}

#[test]
fn a_client_trusting_another_ca_is_refused_and_the_broker_keeps_serving() {
    let pki = TestPki::new();
    let broker = ssl_broker(&pki, &[]);
    let ssl = broker.listener_addr("SSL").to_string();
    let wrong = pki.client_properties(&broker.dir, &pki.other_ca, false);
    let out = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &ssl, "--list", "--command-config"])
        .arg(&wrong)
        .output()
        .expect("topics");
    assert!(!out.status.success(), "a client that does not trust the broker's CA must fail");
    let err = stderr(&out);
    assert!(err.contains("TLS handshake failed") || err.contains("certificate"), "{err}");

    let good = pki.client_properties(&broker.dir, &pki.ca, false);
    let out = produce(&ssl, "after-wrong-ca", &good, "fine\n");
    assert!(out.status.success(), "a good client after a refused one: {}", stderr(&out));
    let out = consume(&ssl, "after-wrong-ca", &good, 1);
    assert_eq!(stdout(&out).trim(), "fine", "{}", stderr(&out));
}

#[test]
fn required_client_auth_refuses_clients_without_a_certificate() {
    let pki = TestPki::new();
    let broker = ssl_broker(&pki, &["listener.name.ssl.ssl.client.auth=required"]);
    let ssl = broker.listener_addr("SSL").to_string();
    let no_cert = pki.client_properties(&broker.dir, &pki.ca, false);
    let out = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &ssl, "--list", "--command-config"])
        .arg(&no_cert)
        .output()
        .expect("topics");
    assert!(!out.status.success(), "no client certificate must be refused: {}", stdout(&out));

    let with_cert = pki.client_properties(&broker.dir, &pki.ca, true);
    let out = produce(&ssl, "mtls", &with_cert, "hello\n");
    assert!(out.status.success(), "with a client certificate: {}", stderr(&out));
    let out = consume(&ssl, "mtls", &with_cert, 1);
    assert_eq!(stdout(&out).trim(), "hello", "{}", stderr(&out));
    // The PLAINTEXT listener is unaffected by the SSL listener's setting.
    let out = tool(&["topics", "--bootstrap-server", &broker.listener_addr("PLAINTEXT").to_string(), "--list"]);
    assert!(stdout(&out).contains("mtls"), "{}", stderr(&out));
}

#[test]
fn kcat_produces_and_consumes_over_tls() {
    let Some(kcat) = kcat() else {
        eprintln!("SKIPPED: kcat is not installed (apt-get install kcat)");
        assert!(std::env::var_os("CI").is_none(), "kcat must be installed in CI");
        return;
    };
    let pki = TestPki::new();
    let broker = ssl_broker(&pki, &["listener.name.ssl.ssl.client.auth=requested"]);
    let ssl = broker.listener_addr("SSL").to_string();
    let ca = pki.ca.to_str().expect("path").to_string();
    let tls = ["-X", "security.protocol=SSL", "-X"];
    let ca_opt = format!("ssl.ca.location={ca}");
    let mut child = kcat_cmd(&kcat)
        .args(["-P", "-b", &ssl, "-t", "kcat-tls", "-p", "0"])
        .args(tls)
        .arg(&ca_opt)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat -P");
    {
        let stdin = child.stdin.as_mut().expect("stdin");
        for i in 0..5 {
            writeln!(stdin, "tls line {i}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("kcat -P");
    assert!(out.status.success(), "kcat -P over TLS: {}", String::from_utf8_lossy(&out.stderr));

    // With a client certificate (librdkafka's file names) too.
    let out = kcat_cmd(&kcat)
        .args(["-C", "-b", &ssl, "-t", "kcat-tls", "-p", "0", "-o", "beginning", "-e", "-q"])
        .args(tls)
        .arg(&ca_opt)
        .args(["-X", &format!("ssl.certificate.location={}", pki.client_cert.display())])
        .args(["-X", &format!("ssl.key.location={}", pki.client_key.display())])
        .output()
        .expect("kcat -C");
    assert!(out.status.success(), "kcat -C over TLS: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let expected: Vec<String> = (0..5).map(|i| format!("tls line {i}")).collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);

    // kcat trusting the wrong CA cannot list metadata.
    let out = kcat_cmd(&kcat)
        .args(["-L", "-b", &ssl, "-m", "5"])
        .args(tls)
        .arg(format!("ssl.ca.location={}", pki.other_ca.display()))
        .output()
        .expect("kcat -L");
    assert!(!out.status.success(), "kcat with the wrong CA must fail: {}", String::from_utf8_lossy(&out.stdout));
    let out = kcat_cmd(&kcat).args(["-L", "-b", &ssl]).args(tls).arg(&ca_opt).output().expect("kcat -L");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&ssl), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn brokers_replicate_over_tls_only_listeners() {
    let zk = zk::TestZk::start();
    let pki = TestPki::new();
    let mut extra = vec![
        "listeners=SSL://127.0.0.1:0".to_string(),
        "security.inter.broker.protocol=SSL".to_string(),
        "listener.name.ssl.ssl.client.auth=required".to_string(),
    ];
    extra.extend(pki.broker_overrides());
    let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let brokers = three_brokers(&zk, &refs);
    let bootstrap: Vec<String> = brokers.iter().map(|b| b.listener_addr("SSL").to_string()).collect();
    let bootstrap = bootstrap.join(",");
    // The brokers' own certificate serves as the client certificate too.
    let props = pki.client_properties(&brokers[0].dir, &pki.ca, true);

    let out = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &bootstrap, "--create", "--topic", "rf3"])
        .args(["--partitions", "1", "--replication-factor", "3", "--command-config"])
        .arg(&props)
        .output()
        .expect("topics --create");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = produce(&bootstrap, "rf3", &props, "a\nb\nc\n");
    assert!(out.status.success(), "{}", stderr(&out));

    // Every follower catches up over TLS: the ISR is full.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(gregor_bin())
            .args(["topics", "--bootstrap-server", &bootstrap, "--describe", "--topic", "rf3", "--command-config"])
            .arg(&props)
            .output()
            .expect("topics --describe");
        let text = stdout(&out);
        let isr = text.lines().find_map(|l| l.split("Isr: ").nth(1)).map(|s| s.split_whitespace().next().unwrap_or(""));
        if isr.is_some_and(|isr| isr.split(',').count() == 3) {
            break;
        }
        assert!(Instant::now() < deadline, "ISR never reached 3 over TLS:\n{text}\n{}", stderr(&out));
        std::thread::sleep(Duration::from_millis(300));
    }

    if let Some(kcat) = kcat() {
        let out = kcat_cmd(&kcat)
            .args(["-C", "-b", &bootstrap, "-t", "rf3", "-p", "0", "-o", "beginning", "-e", "-q"])
            .args(["-X", "security.protocol=SSL", "-X", &format!("ssl.ca.location={}", pki.ca.display())])
            .args(["-X", &format!("ssl.certificate.location={}", pki.client_cert.display())])
            .args(["-X", &format!("ssl.key.location={}", pki.client_key.display())])
            .output()
            .expect("kcat -C");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["a", "b", "c"]);
    } else {
        assert!(std::env::var_os("CI").is_none(), "kcat must be installed in CI");
        let out = consume(&bootstrap, "rf3", &props, 3);
        assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), ["a", "b", "c"], "{}", stderr(&out));
    }
}

#[test]
fn rdkafka_round_trip_over_tls_with_a_client_certificate() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    use rdkafka::{Offset, TopicPartitionList};

    let pki = TestPki::new();
    let broker = ssl_broker(&pki, &["listener.name.ssl.ssl.client.auth=required"]);
    let ssl = broker.listener_addr("SSL").to_string();
    let config = |extra: &[(&str, &str)]| {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &ssl)
            .set("security.protocol", "ssl")
            .set("ssl.ca.location", pki.ca.to_str().expect("path"))
            .set("ssl.certificate.location", pki.client_cert.to_str().expect("path"))
            .set("ssl.key.location", pki.client_key.to_str().expect("path"));
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    };
    let producer: ThreadedProducer<DefaultProducerContext> = config(&[]).create().expect("producer");
    for i in 0..10 {
        let value = format!("rdkafka tls {i}");
        producer.send(BaseRecord::<(), _>::to("rdkafka-tls").partition(0).payload(&value)).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush over TLS");

    let consumer: BaseConsumer =
        config(&[("group.id", "tls"), ("enable.auto.commit", "false")]).create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("rdkafka-tls", 0, Offset::Beginning).expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 10 {
        assert!(Instant::now() < deadline, "consumed only {seen:?}");
        if let Some(m) = consumer.poll(Duration::from_secs(1)) {
            let m = m.expect("message over TLS");
            seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    let expected: Vec<String> = (0..10).map(|i| format!("rdkafka tls {i}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_tls_listener_without_a_usable_pem_key_store_stops_the_start_naming_the_key() {
    let pki = TestPki::new();
    let listeners = "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0";
    // Kafka's default key store type is JKS, which gregor does not read.
    let location = format!("ssl.keystore.location={}", pki.broker_keystore.display());
    let (code, log) = TestBroker::run_to_exit(&[listeners, &location], Duration::from_secs(60));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("ssl.keystore.type") && log.contains("PEM"), "{log}");
    // No key store at all.
    let (code, log) = TestBroker::run_to_exit(&[listeners], Duration::from_secs(60));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("ssl.keystore.location"), "{log}");
    // A file that is not there: the error names the key and the path.
    let (code, log) = TestBroker::run_to_exit(
        &[listeners, "ssl.keystore.type=PEM", "listener.name.ssl.ssl.keystore.location=/nonexistent/broker.pem"],
        Duration::from_secs(60),
    );
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("listener.name.ssl.ssl.keystore.location") && log.contains("/nonexistent/broker.pem"),
        "{log}"
    );
}
