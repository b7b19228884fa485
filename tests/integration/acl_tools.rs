//! `gregor acls` (kafka-acls.sh) against a real broker with the ACL
//! authorizer on: add, list and remove with Kafka's output, the `--producer` /
//! `--consumer` conveniences, prefixed patterns and `match` listing, the
//! removal prompt, and a broker without an authorizer.

use std::process::{Command, Output};

use crate::common::{gregor_bin, ok, pipe_into, run_tool, stderr, stdout, TestBroker};

fn acls(bs: &str, args: &[&str]) -> Output {
    run_tool("acls", bs, args)
}

/// A command for `acls` whose stdin the caller feeds.
fn acls_command(bs: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(gregor_bin());
    cmd.arg("acls").args(["--bootstrap-server", bs]).args(args).env("NO_COLOR", "1").env_remove("RUST_LOG");
    cmd
}

fn secured_broker() -> TestBroker {
    TestBroker::start(&["authorizer.class.name=acl", "super.users=User:ANONYMOUS"])
}

/// Kafka's block: ``header: `` then tab-indented entries, the first after a
/// space and the last followed by one, then an empty line.
fn block(header: &str, entries: &[&str]) -> String {
    let lines: Vec<String> = entries.iter().map(|e| format!("\t{e}")).collect();
    format!("{header}: \n {} \n\n", lines.join("\n"))
}

fn topic(name: &str, pattern: &str) -> String {
    format!("ResourcePattern(resourceType=TOPIC, name={name}, patternType={pattern})")
}

fn entry(principal: &str, operation: &str, permission: &str) -> String {
    format!("(principal={principal}, host=*, operation={operation}, permissionType={permission})")
}

#[test]
fn add_list_and_remove_with_kafkas_output() {
    let broker = secured_broker();
    let bs = broker.bootstrap();

    let read = entry("User:alice", "READ", "ALLOW");
    let write = entry("User:alice", "WRITE", "ALLOW");
    let out = ok(acls(
        &bs,
        &["--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Write", "--topic", "t"],
    ));
    let current = block(&format!("Current ACLs for resource `{}`", topic("t", "LITERAL")), &[&read, &write]);
    assert_eq!(
        out,
        format!(
            "{}{current}",
            block(&format!("Adding ACLs for resource `{}`", topic("t", "LITERAL")), &[&read, &write])
        )
    );
    assert_eq!(ok(acls(&bs, &["--list", "--topic", "t"])), current);

    // Deny entries, another principal, and the --principal filter of --list.
    ok(acls(
        &bs,
        &["--add", "--deny-principal", "User:eve", "--deny-host", "10.0.0.9", "--operation", "Read", "--topic", "t"],
    ));
    let listed = ok(acls(&bs, &["--list"]));
    assert!(listed.contains("\t(principal=User:eve, host=10.0.0.9, operation=READ, permissionType=DENY)"), "{listed}");
    assert_eq!(
        ok(acls(&bs, &["--list", "--principal", "User:alice"])),
        format!("ACLs for principal `User:alice`\n{current}")
    );

    // --remove asks first: "n" keeps the ACLs, "y" removes them.
    let question = pipe_into(
        acls_command(
            &bs,
            &[
                "--remove",
                "--deny-principal",
                "User:eve",
                "--deny-host",
                "10.0.0.9",
                "--operation",
                "Read",
                "--topic",
                "t",
            ],
        ),
        "n\n",
    );
    assert!(question.status.success(), "{}", stderr(&question));
    assert!(
        stdout(&question).starts_with(&format!(
            "Are you sure you want to remove ACLs: \n \t(principal=User:eve, host=10.0.0.9, operation=READ, \
             permissionType=DENY) \n from resource filter `{}`? (y/n)\n",
            topic("t", "LITERAL")
        )),
        "{}",
        stdout(&question)
    );
    assert!(ok(acls(&bs, &["--list", "--topic", "t"])).contains("User:eve"), "still there after 'n'");
    let confirmed = pipe_into(
        acls_command(
            &bs,
            &[
                "--remove",
                "--deny-principal",
                "User:eve",
                "--deny-host",
                "10.0.0.9",
                "--operation",
                "Read",
                "--topic",
                "t",
            ],
        ),
        "y\n",
    );
    assert!(confirmed.status.success(), "{}", stderr(&confirmed));
    assert_eq!(ok(acls(&bs, &["--list", "--topic", "t"])), current);

    // Without principals, --remove --force deletes every ACL of the resource.
    let out = ok(acls(&bs, &["--remove", "--force", "--topic", "t"]));
    assert_eq!(out, "", "nothing left to list");
    assert_eq!(ok(acls(&bs, &["--list"])), "");
}

#[test]
fn producer_consumer_conveniences_and_prefixed_patterns() {
    let broker = secured_broker();
    let bs = broker.bootstrap();

    ok(acls(
        &bs,
        &[
            "--add",
            "--producer",
            "--idempotent",
            "--allow-principal",
            "User:prod",
            "--topic",
            "orders",
            "--transactional-id",
            "tx-1",
        ],
    ));
    let p = |op: &str| entry("User:prod", op, "ALLOW");
    let listed = ok(acls(&bs, &["--list"]));
    assert!(
        listed.contains(&block(
            &format!("Current ACLs for resource `{}`", topic("orders", "LITERAL")),
            &[&p("WRITE"), &p("CREATE"), &p("DESCRIBE")]
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&block(
            "Current ACLs for resource `ResourcePattern(resourceType=TRANSACTIONAL_ID, name=tx-1, patternType=LITERAL)`",
            &[&p("WRITE"), &p("DESCRIBE")]
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&block(
            "Current ACLs for resource `ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL)`",
            &[&p("IDEMPOTENT_WRITE")]
        )),
        "{listed}"
    );

    let out = ok(acls(
        &bs,
        &["--add", "--consumer", "--allow-principal", "User:cons", "--topic", "orders", "--group", "billing"],
    ));
    let c = |op: &str| entry("User:cons", op, "ALLOW");
    assert!(
        out.starts_with(&block(
            &format!("Adding ACLs for resource `{}`", topic("orders", "LITERAL")),
            &[&c("READ"), &c("DESCRIBE")]
        )),
        "{out}"
    );
    assert!(
        out.contains(&block(
            "Adding ACLs for resource `ResourcePattern(resourceType=GROUP, name=billing, patternType=LITERAL)`",
            &[&c("READ")]
        )),
        "{out}"
    );

    // A prefixed ACL, found by a `match` listing of a topic under the prefix.
    ok(acls(
        &bs,
        &[
            "--add",
            "--allow-principal",
            "User:bob",
            "--operation",
            "Read",
            "--topic",
            "logs-",
            "--resource-pattern-type",
            "prefixed",
        ],
    ));
    let matched = ok(acls(&bs, &["--list", "--topic", "logs-app", "--resource-pattern-type", "match"]));
    assert_eq!(
        matched,
        block(
            &format!("Current ACLs for resource `{}`", topic("logs-", "PREFIXED")),
            &[&entry("User:bob", "READ", "ALLOW")]
        )
    );
    assert_eq!(ok(acls(&bs, &["--list", "--topic", "logs-app"])), "", "no literal ACL on logs-app");
    ok(acls(&bs, &["--remove", "--force", "--topic", "logs-", "--resource-pattern-type", "prefixed"]));
    assert_eq!(ok(acls(&bs, &["--list", "--topic", "logs-app", "--resource-pattern-type", "match"])), "");
}

#[test]
fn usage_errors_and_a_broker_without_an_authorizer() {
    let plain = TestBroker::start(&[]);
    let bs = plain.bootstrap();
    let out = acls(&bs, &["--list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("Error: No Authorizer is configured"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let out = acls(&bs, &["--add", "--topic", "t"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "You must specify one of: --allow-principal, --deny-principal when trying to add ACLs."
    );
    let out = acls(&bs, &["--add", "--allow-principal", "User:a", "--group", "g", "--operation", "Write"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).trim(), "ResourceType GROUP only supports operations READ,DESCRIBE,DELETE,ALL");
    let out = Command::new(gregor_bin()).args(["acls", "--list"]).env_remove("RUST_LOG").output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
