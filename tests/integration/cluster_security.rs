//! `gregor cluster up` with a `security:` section: three brokers on SASL_SSL
//! (SCRAM-SHA-512 between brokers and for the admin), certificates made with
//! the openssl one-liners an operator would use, the ACL authorizer with the
//! admin as super user, the spec's topic replicated to full ISR, and a second
//! user refused until `kafka-acls --producer` grants it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::zk::wait_for;
use crate::common::{gregor_bin, pipe_into};

const TIMEOUT: Duration = Duration::from_secs(60);

fn gregor(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").env_remove("RUST_LOG").output().expect("run gregor")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A CA and a broker certificate (SANs 127.0.0.1 and localhost) signed by it,
/// with openssl as the README shows; `false` when openssl is missing (a skip,
/// except under CI).
fn make_certificates(dir: &Path) -> bool {
    let run = |args: &[&str]| {
        Command::new("openssl").args(args).current_dir(dir).output().map(|o| o.status.success()).unwrap_or(false)
    };
    if !run(&["version"]) {
        assert!(std::env::var_os("CI").is_none(), "CI is set but openssl is missing");
        eprintln!("skipping: openssl is not installed");
        return false;
    }
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("san.ext");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    assert!(run(&[
        &["req", "-x509"][..],
        &ec,
        &["-days", "2", "-subj", "/CN=gregor-ca", "-keyout", "ca-key.pem", "-out", "ca.pem"]
    ]
    .concat()));
    assert!(run(
        &[&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", "broker-key.pem", "-out", "broker.csr"]].concat()
    ));
    assert!(run(&[
        "x509",
        "-req",
        "-in",
        "broker.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "broker.pem",
    ]));
    true
}

/// The number of replicas in the `Isr:` field of a `topics --describe` partition line.
fn isr_size(line: &str) -> Option<usize> {
    let isr = line.split("Isr:").nth(1)?.split_whitespace().next()?;
    Some(isr.split(',').filter(|s| !s.is_empty()).count())
}

struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = gregor(&["cluster", "down", "--purge", "--dir", &self.0.display().to_string()]);
    }
}

const SPEC: &str = "\
overrides: {zookeeper.session.timeout.ms: 6000, default.replication.factor: 3, offsets.topic.replication.factor: 3}
topics:
  - {name: secure, partitions: 1, replication_factor: 3}
security:
  protocol: SASL_SSL
  mechanism: SCRAM-SHA-512
  users: {admin: admin-secret, alice: alice-secret}
  tls: {ca: ca.pem, cert: broker.pem, key: broker-key.pem}
  authorizer: true
";

#[test]
fn secured_cluster_up_replicates_and_enforces_acls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    if !make_certificates(tmp.path()) {
        return;
    }
    std::fs::write(tmp.path().join("cluster.yaml"), SPEC).expect("spec");
    let dir = tmp.path().join("c");
    let dir_arg = dir.display().to_string();
    let _down = Down(&dir);
    let spec = tmp.path().join("cluster.yaml").display().to_string();
    let out = gregor(&[
        "cluster",
        "up",
        "--brokers",
        "3",
        "--ephemeral-ports",
        "--detach",
        "--spec",
        &spec,
        "--dir",
        &dir_arg,
    ]);
    assert!(out.status.success(), "up failed: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("SASL_SSL://127.0.0.1:").count(), 3, "{}", text(&out.stdout));
    let dir = dir.canonicalize().expect("dir");
    let admin_props = dir.join("client.properties");
    assert!(text(&out.stderr).contains(&admin_props.display().to_string()), "up names client.properties");
    let client = std::fs::read_to_string(&admin_props).expect("client.properties");
    assert!(client.contains("security.protocol=SASL_SSL\n") && client.contains("sasl.mechanism=SCRAM-SHA-512\n"));

    let props = std::fs::read_to_string(dir.join("broker-0.properties")).expect("broker properties");
    let port = props
        .lines()
        .find_map(|l| l.strip_prefix("listeners=SASL_SSL://127.0.0.1:"))
        .expect("listeners line")
        .to_string();
    let bs = format!("127.0.0.1:{port}");
    let admin = admin_props.display().to_string();

    // The spec's topic, created over SASL_SSL by `up`, reaches full ISR between SASL_SSL brokers.
    assert!(
        wait_for(TIMEOUT, || {
            let o = gregor(&[
                "topics",
                "--describe",
                "--topic",
                "secure",
                "--bootstrap-server",
                &bs,
                "--command-config",
                &admin,
            ]);
            o.status.success() && text(&o.stdout).lines().any(|l| isr_size(l) == Some(3))
        }),
        "topic 'secure' did not reach full ISR"
    );

    // alice authenticates but may not write until granted.
    let alice = tmp.path().join("alice.properties");
    std::fs::write(
        &alice,
        client.replace("username=\"admin\" password=\"admin-secret\"", "username=\"alice\" password=\"alice-secret\""),
    )
    .expect("alice.properties");
    let alice = alice.display().to_string();
    let produce = || {
        let mut cmd = Command::new(gregor_bin());
        cmd.args(["console-producer", "--bootstrap-server", &bs, "--topic", "secure", "--producer.config", &alice])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        pipe_into(cmd, "hello\n")
    };
    let refused = produce();
    assert!(!refused.status.success() || text(&refused.stderr).contains("TOPIC_AUTHORIZATION_FAILED"));
    let granted = gregor(&[
        "acls",
        "--bootstrap-server",
        &bs,
        "--command-config",
        &admin,
        "--add",
        "--producer",
        "--allow-principal",
        "User:alice",
        "--topic",
        "secure",
    ]);
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    let written = produce();
    assert!(written.status.success(), "{}", text(&written.stderr));
    let out = gregor(&["cluster", "down", "--dir", &dir.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
