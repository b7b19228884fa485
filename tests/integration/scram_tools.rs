//! SCRAM credential management on a real broker: `gregor configs --entity-type
//! users` through `--zookeeper` (before any broker runs, as for the first
//! inter-broker user) and `--bootstrap-server` (AlterUserScramCredentials /
//! DescribeUserScramCredentials), the `/config/users/<user>` znode in Kafka's
//! format with its change notification, the APIs' error codes on raw requests,
//! and confluent-kafka's admin client as an independent client.

use std::process::{Command, Output};
use std::time::Duration;

use bytes::Bytes;
use gregor::client::{Admin, ClientConfig, ResponseError, ScramMechanism, UserScramCredentialAlteration};
use gregor::security::password::Password;
use gregor::security::scram::{ScramCredential, UserConfigZnode};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::wire::Wire;
use crate::common::zk::TestZk;
use crate::common::{gregor_bin, ok, python, stderr, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(60);

fn gregor(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").env_remove("RUST_LOG").output().expect("run gregor")
}

/// `/config/users/<user>` as stored, and the change notifications' entity paths.
async fn user_znode(connect: &str, user: &str) -> (Option<Vec<u8>>, Vec<String>) {
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(connect)
        .await
        .expect("zk");
    let data = match client.get_data(&format!("/config/users/{user}")).await {
        Ok((data, _)) => Some(data),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(e) => panic!("read /config/users/{user}: {e}"),
    };
    let mut changes = Vec::new();
    for child in client.list_children("/config/changes").await.expect("list /config/changes") {
        let (data, _) = client.get_data(&format!("/config/changes/{child}")).await.expect("read change");
        let v: serde_json::Value = serde_json::from_slice(&data).expect("change JSON");
        assert_eq!(v["version"], 2, "{v}");
        changes.push(v["entity_path"].as_str().expect("entity_path").to_string());
    }
    (data, changes)
}

/// Checks that the stored credential authenticates `password`: the stored and
/// server keys derive from it with the stored salt and iterations.
fn assert_credential(znode: &UserConfigZnode, mechanism: ScramMechanism, password: &str, iterations: u32) {
    let raw = &znode.config[mechanism.name()];
    assert!(
        raw.starts_with("salt=") && raw.contains(",stored_key=") && raw.contains(",server_key="),
        "Kafka's credential string: {raw}"
    );
    assert!(raw.ends_with(&format!(",iterations={iterations}")), "{raw}");
    let stored = ScramCredential::parse(raw).expect("credential");
    let derived = ScramCredential::derive(mechanism, password, &stored.salt, iterations).expect("derive");
    assert_eq!(stored, derived, "the stored keys come from the password");
    assert!(stored.salt.len() >= 16, "a random salt");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_configs_users_through_zookeeper_and_the_brokers() {
    let zk = TestZk::start();
    let connect = zk.connect("");

    // Before any broker: the ZooKeeper path creates the first user (and the paths it needs).
    let out = ok(gregor(&[
        "configs",
        "--zookeeper",
        &connect,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "admin",
        "--add-config",
        "SCRAM-SHA-512=[password=admin-secret]",
    ]));
    assert_eq!(out.trim(), "Completed Updating config for entity: user-principal 'admin'.");
    let (data, changes) = user_znode(&connect, "admin").await;
    let data = data.expect("/config/users/admin");
    let json: serde_json::Value = serde_json::from_slice(&data).expect("JSON");
    assert_eq!(json["version"], 1, "{json}");
    let znode = UserConfigZnode::decode(&data).expect("znode");
    assert_eq!(znode.config.len(), 1);
    assert_credential(&znode, ScramMechanism::Sha512, "admin-secret", 4096);
    assert!(changes.contains(&"users/admin".to_string()), "{changes:?}");

    let broker = TestBroker::start(&[&format!("zookeeper.connect={connect}")]);
    let bs = broker.bootstrap();

    // --bootstrap-server: AlterUserScramCredentials, the client salting the password.
    let out = ok(gregor(&[
        "configs",
        "--bootstrap-server",
        &bs,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "alice",
        "--add-config",
        "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=alice-secret]",
    ]));
    assert_eq!(out.trim(), "Completed updating config for user alice.");
    let (data, changes) = user_znode(&connect, "alice").await;
    let znode = UserConfigZnode::decode(&data.expect("/config/users/alice")).expect("znode");
    assert_credential(&znode, ScramMechanism::Sha256, "alice-secret", 8192);
    assert_credential(&znode, ScramMechanism::Sha512, "alice-secret", 4096);
    assert!(changes.contains(&"users/alice".to_string()), "{changes:?}");

    let describe = |args: &[&str]| {
        let mut all = vec!["configs", "--bootstrap-server", bs.as_str(), "--describe", "--entity-type", "users"];
        all.extend_from_slice(args);
        ok(gregor(&all))
    };
    assert_eq!(
        describe(&["--entity-name", "alice"]).trim(),
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, \
         SCRAM-SHA-512=iterations=4096"
    );
    assert_eq!(
        describe(&[]).trim(),
        "SCRAM credential configs for user-principal 'admin' are SCRAM-SHA-512=iterations=4096\n\
         SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, \
         SCRAM-SHA-512=iterations=4096"
    );
    assert_eq!(describe(&["--entity-name", "nobody"]).trim(), "", "a user without credentials prints nothing");
    let zk_view = ok(gregor(&[
        "configs",
        "--zookeeper",
        &connect,
        "--describe",
        "--entity-type",
        "users",
        "--entity-name",
        "alice",
    ]));
    assert_eq!(
        zk_view.trim(),
        "Configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192,SCRAM-SHA-512=iterations=4096"
    );

    // Deletions: through the broker, then through ZooKeeper; a missing one is an error.
    ok(gregor(&[
        "configs",
        "--bootstrap-server",
        &bs,
        "--alter",
        "--user",
        "alice",
        "--delete-config",
        "SCRAM-SHA-512",
    ]));
    assert_eq!(
        describe(&["--entity-name", "alice"]).trim(),
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192"
    );
    let again = gregor(&[
        "configs",
        "--bootstrap-server",
        &bs,
        "--alter",
        "--user",
        "alice",
        "--delete-config",
        "SCRAM-SHA-512",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("Attempt to delete a user credential that does not exist"), "{}", stderr(&again));
    ok(gregor(&["configs", "--zookeeper", &connect, "--alter", "--user", "alice", "--delete-config", "SCRAM-SHA-256"]));
    let (data, _) = user_znode(&connect, "alice").await;
    assert!(UserConfigZnode::decode(&data.expect("znode kept")).expect("znode").config.is_empty());
    assert_eq!(describe(&["--entity-name", "alice"]).trim(), "");

    // What stays refused, and what never shows.
    let quota = gregor(&[
        "configs",
        "--bootstrap-server",
        &bs,
        "--alter",
        "--user",
        "bob",
        "--add-config",
        "producer_byte_rate=1024",
    ]);
    // A user's quota is stored beside its credentials (tests/integration/quotas.rs checks both survive).
    assert_eq!(quota.status.code(), Some(0), "{}", stderr(&quota));
    let low = gregor(&[
        "configs",
        "--bootstrap-server",
        &bs,
        "--alter",
        "--user",
        "bob",
        "--add-config",
        "SCRAM-SHA-256=[iterations=100,password=bob-secret]",
    ]);
    assert_eq!(low.status.code(), Some(1));
    assert!(stderr(&low).contains("Iterations 100 is less than the minimum 4096"), "{}", stderr(&low));
    assert!(!stderr(&low).contains("bob-secret"));
    let log = broker.log_text();
    for secret in ["admin-secret", "alice-secret", "bob-secret"] {
        assert!(!log.contains(secret), "the broker log never holds a password");
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn upsertion(user: &str, mechanism: i8, iterations: i32, salt: &[u8], salted: &[u8]) -> ScramCredentialUpsertion {
    ScramCredentialUpsertion::default()
        .with_name(sb(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::copy_from_slice(salt))
        .with_salted_password(Bytes::copy_from_slice(salted))
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_apis_answer_kafkas_error_codes() {
    let broker = TestBroker::start(&[]);
    let mut wire = Wire::connect(broker.addr);
    let salt = [7u8; 32];
    let salted = [9u8; 32];

    // One request: a good user, and one user per way to be refused.
    let req = AlterUserScramCredentialsRequest::default()
        .with_deletions(vec![
            ScramCredentialDeletion::default().with_name(sb("ghost")).with_mechanism(1),
            ScramCredentialDeletion::default().with_name(sb("twice")).with_mechanism(2),
        ])
        .with_upsertions(vec![
            upsertion("carol", 1, 4096, &salt, &salted),
            upsertion("few", 1, 100, &salt, &salted),
            upsertion("many", 2, 100_000, &salt, &salted),
            upsertion("weird", 9, 4096, &salt, &salted),
            upsertion("nosalt", 1, 4096, &[], &salted),
            upsertion("twice", 2, 4096, &salt, &salted),
            upsertion("", 1, 4096, &salt, &salted),
        ]);
    let resp: AlterUserScramCredentialsResponse = wire.call(ApiKey::AlterUserScramCredentials, 0, &req);
    let code = |user: &str| {
        let r = resp.results.iter().find(|r| r.user.as_str() == user).unwrap_or_else(|| panic!("{user}: {resp:?}"));
        (r.error_code, r.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
    };
    assert_eq!(resp.results.len(), 8, "one result per user: {resp:?}");
    assert_eq!(code("carol").0, 0);
    assert_eq!(code("ghost"), (91, "Attempt to delete a user credential that does not exist".into()));
    assert_eq!(code("few"), (93, "Too few iterations".into()));
    assert_eq!(code("many"), (93, "Too many iterations".into()));
    assert_eq!(code("weird"), (33, "Unknown SCRAM mechanism".into()));
    assert_eq!(code("nosalt").0, 93);
    assert_eq!(code("twice"), (92, "A user credential cannot be altered twice in the same request".into()));
    assert_eq!(code("").0, 93);

    let describe = |users: Option<&[&str]>, wire: &mut Wire| -> DescribeUserScramCredentialsResponse {
        let req = DescribeUserScramCredentialsRequest::default()
            .with_users(users.map(|us| us.iter().map(|u| UserName::default().with_name(sb(u))).collect()));
        wire.call(ApiKey::DescribeUserScramCredentials, 0, &req)
    };
    let all = describe(None, &mut wire);
    assert_eq!(all.error_code, 0);
    let users: Vec<&str> = all.results.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(users, vec!["carol"], "only the user that got a credential");
    assert_eq!(all.results[0].credential_infos.len(), 1);
    assert_eq!(
        (all.results[0].credential_infos[0].mechanism, all.results[0].credential_infos[0].iterations),
        (1, 4096)
    );
    let named = describe(Some(&["carol", "ghost", "dup", "dup"]), &mut wire);
    let by_user = |u: &str| named.results.iter().find(|r| r.user.as_str() == u).map(|r| r.error_code);
    assert_eq!(by_user("carol"), Some(0));
    assert_eq!(by_user("ghost"), Some(91));
    assert_eq!(by_user("dup"), Some(92));

    // Our admin client: errors per user, the unknown one RESOURCE_NOT_FOUND.
    let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
    let described = admin.describe_user_scram_credentials(Some(&["ghost".to_string()])).await.expect("describe");
    assert_eq!(described[0].1.as_ref().err().and_then(|e| e.code()), Some(ResponseError::ResourceNotFound));
    let altered = admin
        .alter_user_scram_credentials(&[
            UserScramCredentialAlteration::Upsert {
                user: "dave".into(),
                mechanism: ScramMechanism::Sha256,
                iterations: 4096,
                password: Password::new("dave-secret"),
            },
            UserScramCredentialAlteration::Delete { user: "ghost".into(), mechanism: ScramMechanism::Sha512 },
        ])
        .await
        .expect("alter");
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert_eq!(altered[1].1.as_ref().err().and_then(|e| e.code()), Some(ResponseError::ResourceNotFound));
}

#[tokio::test(flavor = "multi_thread")]
async fn confluent_kafka_admin_manages_scram_credentials() {
    let Some(python) = python::confluent_kafka() else { return };
    let broker = TestBroker::start(&[]);
    let script = r#"
import sys
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion, UserScramCredentialDeletion)
a = AdminClient({"bootstrap.servers": sys.argv[1]})
up = UserScramCredentialUpsertion("erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"erin-secret")
for user, f in a.alter_user_scram_credentials([up]).items():
    f.result(timeout=30)
res = a.describe_user_scram_credentials(["erin"])
futures = res if isinstance(res, dict) else {"erin": res}
for user, f in futures.items():
    d = f.result(timeout=30)
    d = d[user] if isinstance(d, dict) else d
    for info in d.scram_credential_infos:
        print(user, info.mechanism.name, info.iterations)
down = UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_256)
for user, f in a.alter_user_scram_credentials([down]).items():
    f.result(timeout=30)
print("deleted")
"#;
    let out = python::run_ok(python, script, &[&broker.bootstrap()], TIMEOUT);
    assert_eq!(out.trim(), "erin SCRAM_SHA_256 8192\ndeleted");
    let described = ok(gregor(&[
        "configs",
        "--bootstrap-server",
        &broker.bootstrap(),
        "--describe",
        "--entity-type",
        "users",
        "--entity-name",
        "erin",
    ]));
    assert_eq!(described.trim(), "", "deleted by confluent-kafka");
}
