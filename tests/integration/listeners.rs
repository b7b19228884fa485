//! Several listeners on one broker: every entry of `listeners` is bound and
//! serves clients, the `started` line names each, and a restart keeps their
//! ports.

use std::process::Command;

use crate::common::{gregor_bin, ok, pipe_into, run_tool, TestBroker};

const TWO_LISTENERS: [&str; 3] = [
    "listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
    "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
    "inter.broker.listener.name=INTERNAL",
];

fn produce(bs: &str, topic: &str, lines: &str) {
    let mut cmd = Command::new(gregor_bin());
    cmd.args(["console-producer", "--bootstrap-server", bs, "--topic", topic]).env("NO_COLOR", "1");
    let out = pipe_into(cmd, lines);
    assert!(out.status.success(), "producer failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn consume(bs: &str, topic: &str, n: usize) -> String {
    ok(run_tool(
        "console-consumer",
        bs,
        &["--topic", topic, "--from-beginning", "--max-messages", &n.to_string(), "--timeout-ms", "20000"],
    ))
}

#[test]
fn every_listener_is_bound_and_serves_clients() {
    let mut broker = TestBroker::start(&TWO_LISTENERS);
    let internal = broker.listener_addr("INTERNAL");
    let external = broker.listener_addr("EXTERNAL");
    assert_ne!(internal, external);
    assert_eq!(broker.addr, internal, "the first listener is the one named `listener=`");

    ok(run_tool("topics", &external.to_string(), &["--create", "--topic", "two", "--partitions", "1"]));
    produce(&internal.to_string(), "two", "a\nb\n");
    produce(&external.to_string(), "two", "c\n");
    let read = consume(&external.to_string(), "two", 3);
    assert_eq!(read.lines().collect::<Vec<_>>(), ["a", "b", "c"]);

    broker.restart();
    assert_eq!(broker.listener_addr("INTERNAL"), internal);
    assert_eq!(broker.listener_addr("EXTERNAL"), external);
    let read = consume(&internal.to_string(), "two", 3);
    assert_eq!(read.lines().collect::<Vec<_>>(), ["a", "b", "c"]);
}
