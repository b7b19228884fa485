//! `gregor perf machine`: the machine's loopback bandwidth and disk write rate
//! (the limits the `perf` benchmark prints beside the broker's figures).

use std::process::Command;

use crate::common::{gregor_bin, ok, stderr};

fn perf_machine(args: &[&str]) -> std::process::Output {
    Command::new(gregor_bin())
        .args(["perf", "machine"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run gregor perf machine")
}

/// The MB/s figure right after `prefix` on the line that starts with it.
fn figure(out: &str, prefix: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.starts_with(prefix))?;
    line[prefix.len()..].split_whitespace().next()?.parse().ok()
}

#[test]
fn perf_machine_prints_loopback_and_disk_rates_and_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let out = ok(perf_machine(&["--dir", &path, "--bytes", "4M", "--seconds", "1"]));
    let loopback = figure(&out, "loopback: ").unwrap_or_else(|| panic!("no loopback line in:\n{out}"));
    assert!(loopback > 0.0, "{out}");
    assert!(out.lines().any(|l| l.starts_with("loopback (iperf3): ")), "{out}");
    let disk = figure(&out, "disk write: ").unwrap_or_else(|| panic!("no disk line in:\n{out}"));
    assert!(disk > 0.0, "{out}");
    assert!(out.contains("(4194304 bytes in 1 MiB writes + fdatasync in "), "{out}");
    // dd is part of coreutils, so present wherever these tests run.
    let dd = figure(&out, "disk write (dd bs=1M conv=fdatasync): ").unwrap_or_else(|| panic!("no dd line in:\n{out}"));
    assert!(dd > 0.0, "{out}");
    assert!(out.lines().any(|l| l.starts_with("free space: ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("CPU clock ticks: ")), "{out}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0, "test files left in {path}");
}

#[test]
fn perf_machine_refuses_bad_input_with_the_usual_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing").display().to_string();
    let out = perf_machine(&["--dir", &missing, "--bytes", "1M", "--seconds", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not a directory"), "{}", stderr(&out));
    let out = perf_machine(&["--bytes", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("at least 1"), "{}", stderr(&out));
    let out = perf_machine(&["--bytes", "lots"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a byte count"), "{}", stderr(&out));
}
