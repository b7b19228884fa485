//! Debian's kcat (librdkafka 2.0.2) — an old client that must keep working:
//! metadata listing, produce and consume. `.ci/run` installs it.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::TestBroker;

fn kcat() -> Option<String> {
    let found = Command::new("sh").arg("-c").arg("command -v kcat || command -v kafkacat").output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).lines().next()?.trim().to_string();
    (!path.is_empty()).then_some(path)
}

#[test]
fn kcat_lists_produces_and_consumes() {
    let Some(kcat) = kcat() else {
        // .ci/run installs kcat; on a developer machine without it, say so loudly.
        eprintln!("SKIPPED: kcat is not installed (apt-get install kcat)");
        assert!(std::env::var_os("CI").is_none(), "kcat must be installed in CI");
        return;
    };
    let b = TestBroker::start(&["num.partitions=1"]);
    let bootstrap = b.bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        let mut child = Command::new(&kcat)
            .args(["-P", "-b", &bootstrap, "-t", &topic, "-p", "0", "-z", codec, "-K", ":"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kcat -P");
        {
            let stdin = child.stdin.as_mut().expect("stdin");
            for i in 0..5 {
                writeln!(stdin, "k{i}:line {i} via {codec}").expect("write");
            }
        }
        let out = child.wait_with_output().expect("kcat -P");
        assert!(out.status.success(), "kcat -P {codec}: {}", String::from_utf8_lossy(&out.stderr));

        let out = Command::new(&kcat)
            .args(["-C", "-b", &bootstrap, "-t", &topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\\n"])
            .output()
            .expect("kcat -C");
        assert!(out.status.success(), "kcat -C {codec}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let expected: Vec<String> = (0..5).map(|i| format!("k{i}=line {i} via {codec}@{i}")).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected, "codec {codec}");
    }
    let out = Command::new(&kcat).args(["-L", "-b", &bootstrap]).output().expect("kcat -L");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 brokers:"), "{text}");
    assert!(text.contains("topic \"kcat-zstd\" with 1 partitions"), "{text}");
}
