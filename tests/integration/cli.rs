//! The multi-call binary: argv[0] dispatch through symlinks and the bin/
//! wrappers, `--list`, usage errors, and server-start's config errors.

use std::process::Command;

use crate::common::gregor_bin;

#[test]
fn list_names_every_tool_and_its_scripts() {
    let out = Command::new(gregor_bin()).arg("--list").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("server-start\t") && l.contains("kafka-server-start.sh")), "{text}");
}

#[test]
fn unknown_tool_is_a_usage_error() {
    let out = Command::new(gregor_bin()).arg("no-such-tool").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tool 'no-such-tool'"));
}

#[test]
fn symlink_named_like_a_kafka_script_runs_that_tool() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["kafka-server-start.sh", "kafka-server-start"] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink(gregor_bin(), &link).expect("symlink");
        let out = Command::new(&link).arg("--help").output().expect("run");
        assert!(out.status.success(), "{name}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--override"), "{name}: {text}");
    }
}

#[test]
fn bad_flag_names_the_flag() {
    let out = Command::new(gregor_bin()).args(["server-start", "--no-such-flag"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

#[test]
fn invalid_config_value_exits_nonzero_naming_key_and_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let props = dir.path().join("server.properties");
    std::fs::write(&props, "broker.id=0\nnum.partitions=abc\n").expect("write");
    let out = Command::new(gregor_bin()).arg("server-start").arg(&props).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("num.partitions") && err.contains("abc"), "{err}");
}

#[test]
fn override_without_equals_is_an_error() {
    let out = Command::new(gregor_bin()).args(["server-start", "--override", "broker.id"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broker.id"));
}

#[test]
fn bin_wrapper_runs_the_binary() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/kafka-server-start.sh");
    let out = Command::new(script).arg("--help").env("GREGOR", gregor_bin()).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("server.properties"));
}
