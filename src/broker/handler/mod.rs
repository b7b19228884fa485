//! Request dispatch: one file per Kafka API. The dispatcher peeks at the
//! header, answers ApiVersions for unknown versions with the KIP-511 v0
//! fallback, refuses (by closing the connection) anything we do not serve,
//! hands versions older than the codec crate's to `legacy`, decodes,
//! routes, and encodes the response.
//!
//! # Which handler gets which service
//!
//! The dispatcher (and `legacy::route` for the hand-coded old versions) is
//! the one place that holds the whole [`Broker`]; it hands each handler only
//! the services its API touches, so that what a handler can change is
//! visible in its signature and a coordinator or the data path can be
//! reasoned about (and reused) without the rest of the broker.
//!
//! - **Data path → [`ReplicaManager`](crate::broker::replicas::ReplicaManager)**
//!   (the hosted partitions, the data-arrived signal, ISR proposals):
//!   Produce and Fetch (with their message-format v0/v1 forms), ListOffsets
//!   (with v0), OffsetForLeaderEpoch. Every answer they give is decided by a
//!   local partition: UNKNOWN_TOPIC_OR_PARTITION / NOT_LEADER_OR_FOLLOWER
//!   come from whether this broker hosts and leads it.
//!   - WriteTxnMarkers also gets the
//!     [`GroupCoordinator`](crate::coordinator::GroupCoordinator): a committed
//!     marker on `__consumer_offsets` completes that producer's pending
//!     transactional offset commits.
//!   - DescribeProducers also gets the
//!     [`MetadataStore`](crate::metadata::MetadataStore): any replica answers,
//!     and a partition not hosted here is NOT_LEADER_OR_FOLLOWER only when
//!     the topic has it.
//! - **Consumer groups → [`GroupCoordinator`](crate::coordinator::GroupCoordinator)**
//!   alone: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//!   OffsetFetch, OffsetDelete, DescribeGroups, ListGroups, DeleteGroups,
//!   TxnOffsetCommit. The coordinator answers NOT_COORDINATOR / LOAD_IN_PROGRESS
//!   itself and checks committed topics through its own topic catalog.
//!   OffsetCommit v0 and OffsetFetch v0 (ZooKeeper-stored offsets, `legacy`)
//!   take the metadata store instead, plus `offset.metadata.max.bytes`.
//! - **Transactions → [`TxnCoordinator`](crate::coordinator::txn::TxnCoordinator)**:
//!   EndTxn, ListTransactions, DescribeTransactions alone; InitProducerId
//!   plus the [`ProducerIdSource`](crate::coordinator::txn::ProducerIdSource)
//!   (the broker's ZooKeeper-reserved id blocks, shared with the coordinator)
//!   for producers without a transactional id; AddPartitionsToTxn plus the
//!   metadata store (partitions that do not exist are refused before the
//!   coordinator is asked); AddOffsetsToTxn plus the metadata store and
//!   `offsets.topic.num.partitions` (to find the group's `__consumer_offsets`
//!   partition the way the group coordinator does).
//! - **DeleteRecords → [`ReplicaManager`](crate::broker::replicas::ReplicaManager)
//!   plus the [`LogManager`](crate::storage::LogManager)**: the leader moves
//!   its log start and the manager checkpoints it (`log-start-offset-checkpoint`).
//!   DescribeLogDirs and AlterReplicaLogDirs take the same two: the manager
//!   knows which log dir holds each log and moves it, the replica manager
//!   says which partitions are hosted and how far behind they are.
//! - **Cluster metadata only → [`MetadataStore`](crate::metadata::MetadataStore)**:
//!   ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments,
//!   DescribeCluster, DescribeUserScramCredentials and AlterUserScramCredentials
//!   (the `/config/users` znodes), DescribeClientQuotas and AlterClientQuotas
//!   (`/config/clients`, `/config/users`).
//! - **The whole [`Broker`]**, through its accessors, for the APIs that
//!   combine several services: Metadata (the cache, the config, and
//!   auto-creating topics), CreateTopics / DeleteTopics / CreatePartitions
//!   (the topic-admin operations in `topics.rs`, which write ZooKeeper under
//!   the broker's admin lock and wait for partition sync to open or drop
//!   the partitions), DescribeConfigs (the broker's config, its id and the
//!   topics' overrides), AlterConfigs / IncrementalAlterConfigs (this broker's
//!   id, the metadata store's config znodes, and waiting for partition sync to
//!   apply the change), FindCoordinator (the metadata, both coordinators'
//!   readiness, this broker's advertised address, and creating the internal
//!   topics on first use), ControlledShutdown (the controller's request
//!   queue, the config, and stopping the replica fetchers). ApiVersions
//!   needs nothing.
//!
//! # Authorization
//!
//! With `authorizer.class.name` set, every request is checked against the
//! ACLs (Kafka's rules per API) with the session's principal and the
//! client's address, through one [`Authz`](crate::security::authorizer::Authz)
//! handle built here: Produce, Fetch and Metadata check inside their
//! handlers, the ACL APIs in theirs, ControlledShutdown in its own, and
//! every other API in `authorize.rs` (refused items are split off before
//! the handler runs and answered with Kafka's error). Without an
//! authorizer the handle is an empty `Option` and nothing is checked.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_replica_log_dirs;
mod alter_user_scram_credentials;
mod api_versions;
pub(crate) mod authorize;
pub(crate) mod client_quotas;
pub(crate) mod controlled_shutdown;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_transactions;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_txn;
mod fetch;
mod fetch_v0;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
pub(crate) mod legacy;
mod list_groups;
mod list_offsets;
mod list_offsets_v0;
mod list_partition_reassignments;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
pub(crate) mod produce;
mod produce_v0;
mod sync_group;
mod txn_offset_commit;
pub(crate) mod write_txn_markers;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::listeners::ListenerContext;
use super::session::Session;
use super::Broker;
use crate::network::{ConnInfo, Outcome, RequestHandler, RequestTag, RequestTimes};
use crate::protocol::{frame, versions};
use crate::security::acl::AclOperation;

impl RequestHandler for Broker {
    type Session = Session;

    fn open(&self, conn: ConnInfo) -> Session {
        // The network layer only ever passes indexes of listeners it was given.
        let listener = self.listeners().get(conn.listener).or_else(|| self.listeners().first()).cloned();
        let listener = listener.unwrap_or_else(|| {
            Arc::new(ListenerContext {
                index: conn.listener,
                name: String::new(),
                protocol: Default::default(),
                local: conn.peer,
                advertised: self.advertised().clone(),
            })
        });
        let mut session = Session::new(conn.peer, listener);
        // Kafka's DEFAULT mapping: a verified client certificate makes the principal its
        // Subject DN (`User:CN=client,OU=test,O=gregor`); no certificate stays ANONYMOUS.
        if let Some(leaf) = conn.peer_certificates.as_ref().and_then(|chain| chain.first()) {
            match crate::network::tls::principal_name(leaf) {
                Some(dn) => session.principal = crate::security::principal::Principal::user(dn),
                None => {
                    tracing::debug!(peer = %conn.peer, "client certificate subject unreadable; principal stays ANONYMOUS")
                }
            }
        }
        session
    }

    fn frame_bounds(&self, session: &Session, max: usize) -> (usize, usize) {
        session.sasl.frame_bounds(self.sasl.max_receive_size, max)
    }

    fn request_tag(&self, session: &mut Session) -> RequestTag {
        std::mem::take(&mut session.request)
    }

    fn request_done(&self, tag: RequestTag, times: &RequestTimes) {
        self.metrics_request_done(tag, times);
    }

    fn queues_changed(&self, requests: i64, responses: i64) {
        self.metrics().requests.queues_changed(requests, responses);
    }

    fn connection_opened(&self, conn: &ConnInfo) {
        self.metrics_connection_opened(conn);
    }

    fn connection_closed(&self, listener: usize) {
        self.metrics_connection_closed(listener);
    }

    fn handled(&self, session: &mut Session, elapsed: std::time::Duration) {
        client_quotas::record_request_time(self, session, elapsed);
    }

    fn mute_for(&self, session: &mut Session) -> Option<std::time::Duration> {
        session.mute.take()
    }

    async fn handle(&self, payload: Bytes, session: &mut Session) -> Outcome {
        let started = std::time::Instant::now();
        let peer = session.peer;
        // SASL first: before authentication only ApiVersions and the SASL exchange pass.
        let scram = |m: crate::security::scram::ScramMechanism, user: &str| {
            self.metadata().view().scram_users.get(user).and_then(|c| c.get(&m)).cloned()
        };
        let cx = crate::broker::sasl::GateContext {
            listener: self.sasl_settings().listeners.get(&session.listener.name),
            listener_name: &session.listener.name,
            scram: &scram,
            peer,
            failures: self.sasl_failures(),
        };
        // The SASL exchange's own requests are recorded even when the gate answers them.
        if let Ok(p) = frame::peek_header(&payload) {
            if matches!(p.api_key, 17 | 18 | 36) {
                session.request = super::request_metrics::tag_for(p.api_key, p.api_version);
            }
        }
        let gate = session.sasl.gate(&cx, &payload);
        if let Some(user) = session.sasl.take_new_user() {
            session.principal = crate::security::principal::Principal::user(user);
        }
        if let crate::broker::sasl::Gate::Answer(outcome) = gate {
            return outcome;
        }
        let peek = match frame::peek_header(&payload) {
            Ok(p) => p,
            Err(err) => return Outcome::Close(err.to_string()),
        };
        session.request = super::request_metrics::tag_for(peek.api_key, peek.api_version);
        // Without an authorizer this is an `Option` and nothing else.
        let authz = crate::security::authorizer::Authz::new(
            self.authorizer(),
            || self.metadata().acls(),
            &session.principal,
            peer.ip(),
        );
        if peek.api_key == controlled_shutdown::API_KEY {
            // Not in the codec crate (a ZooKeeper-era API): read by hand.
            return match controlled_shutdown::handle(self, &authz, &payload).await {
                Ok(bytes) => Outcome::Respond(bytes),
                Err(reason) => Outcome::Close(reason),
            };
        }
        let Ok(api) = ApiKey::try_from(peek.api_key) else {
            return Outcome::Close(format!("unknown API key {}", peek.api_key));
        };
        // A follower's old-version Fetch, read from the header: it counts as FetchFollower
        // and is not subject to client quotas.
        let legacy_follower = api == ApiKey::Fetch && super::request_metrics::legacy_fetch_is_follower(&payload);
        if legacy_follower {
            // Read from the header only for the hand-coded versions; the codec path knows for sure.
            if versions::codec_min(api).is_some_and(|min| peek.api_version < min) {
                session.request.kind = crate::metrics::requests::slot(peek.api_key, true);
            }
        }
        // Versions older than the codec's (ListOffsets v0, OffsetCommit v0–1…):
        // old clients send them without asking ApiVersions.
        if let Some(outcome) = legacy::route(self, &authz, api, peek.api_version, &payload).await {
            if matches!(api, ApiKey::Produce | ApiKey::Fetch) {
                return client_quotas::legacy_data(self, session, api, &payload, legacy_follower, outcome);
            }
            return outcome;
        }
        if !versions::is_served(api, peek.api_version) {
            if api == ApiKey::ApiVersions {
                // KIP-511: answer an unknown ApiVersions version at v0 with error 35 and our ranges.
                let body = ResponseKind::ApiVersions(versions::api_versions_response(35));
                return encode(api, 0, peek.correlation_id, &body);
            }
            return Outcome::Close(format!("{api:?} v{} is not supported", peek.api_version));
        }
        let request = match frame::decode_request(payload) {
            Ok(r) => r,
            Err(err) => return Outcome::Close(err.to_string()),
        };
        let version = request.version;
        let client_id = request.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default();
        if session.client_id != client_id {
            session.client_id.clone_from(&client_id);
        }
        tracing::trace!(%peer, ?api, version, correlation_id = peek.correlation_id, "request");
        let mut body = match request.body {
            RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::handle()),
            RequestKind::Metadata(r) => {
                ResponseKind::Metadata(metadata::handle(self, &authz, r, version, &session.listener).await)
            }
            RequestKind::Produce(r) => {
                // Client quota: the records count before they are appended (Kafka's order).
                let quota = client_quotas::record_produce(self, session, &client_id, &r);
                let kip219 = version >= client_quotas::PRODUCE_KIP219;
                let slot = session.request.kind;
                let produced = produce::handle(self.replicas(), &authz, r, version).await;
                // The request quota counts the handling, not the wait for replication.
                let quota = quota.max(client_quotas::request_throttle(self, session, started.elapsed()));
                let throttle_ms = client_quotas::throttle_ms(quota);
                let outcome = match produced {
                    produce::Produced::Now(Some(mut resp)) => {
                        resp.throttle_time_ms = throttle_ms;
                        let body = ResponseKind::Produce(resp);
                        if let Some(slot) = slot {
                            super::request_metrics::count_errors(&self.metrics().requests, slot, &body);
                        }
                        encode(api, version, peek.correlation_id, &body)
                    }
                    produce::Produced::Now(None) => Outcome::NoResponse,
                    produce::Produced::CloseConnection(reason) => return Outcome::Close(reason),
                    produce::Produced::Waiting(answer) => {
                        let correlation_id = peek.correlation_id;
                        let metrics = self.metrics().clone();
                        Outcome::Deferred(Box::pin(async move {
                            let mut resp = answer.await;
                            resp.throttle_time_ms = throttle_ms;
                            let body = ResponseKind::Produce(resp);
                            if let Some(slot) = slot {
                                super::request_metrics::count_errors(&metrics.requests, slot, &body);
                            }
                            match encode(api, version, correlation_id, &body) {
                                Outcome::Respond(bytes) => Some(bytes),
                                _ => None,
                            }
                        }))
                    }
                };
                return client_quotas::throttled(outcome, quota, kip219, session);
            }
            RequestKind::Fetch(r) => {
                let throttle =
                    fetch::LeaderThrottle { broker_id: self.node_id(), quota: &self.replication_quotas().leader };
                let consumer = client_quotas::is_consumer_fetch(&r, version);
                session.request.kind = crate::metrics::requests::slot(peek.api_key, !consumer);
                let (mut answer, waited) =
                    fetch::handle_timed(self.replicas(), &authz, Some(throttle), r, version).await;
                session.request.waited = waited;
                // Followers are not subject to client quotas (not even the request quota).
                let mut quota = std::time::Duration::ZERO;
                if consumer {
                    // Request time excludes the long poll.
                    let handling = started.elapsed().saturating_sub(waited);
                    let request_quota = client_quotas::request_throttle(self, session, handling);
                    quota = client_quotas::record_fetch(self, session, &client_id, &mut answer).max(request_quota);
                }
                session.request_time_recorded = true;
                if !quota.is_zero() {
                    answer.resp.throttle_time_ms = client_quotas::throttle_ms(quota);
                }
                let kip219 = version >= client_quotas::FETCH_KIP219;
                if let Some(slot) = session.request.kind {
                    super::request_metrics::count_fetch_errors(&self.metrics().requests, slot, &answer.resp);
                }
                // Record bytes go from the segment files to the socket; an answer the
                // spliced writer cannot write, or one held back, is read into memory.
                let outcome = match (quota.is_zero() || kip219).then(|| answer.encode(version, peek.correlation_id)) {
                    Some(Some(chunks)) => Outcome::RespondChunks(chunks),
                    _ => encode(api, version, peek.correlation_id, &ResponseKind::Fetch(answer.into_response())),
                };
                return client_quotas::throttled(outcome, quota, kip219, session);
            }
            RequestKind::ListOffsets(r) => {
                let (r, denied) = authorize::list_offsets(&authz, r);
                let resp = list_offsets::handle(self.replicas(), r, version).await;
                ResponseKind::ListOffsets(authorize::list_offsets_denied(resp, denied))
            }
            RequestKind::CreateTopics(r) => {
                let (r, denied) = authorize::create_topics(&authz, r);
                let resp = create_topics::handle(self, r, version).await;
                ResponseKind::CreateTopics(authorize::create_topics_denied(resp, denied))
            }
            RequestKind::DeleteTopics(r) => {
                let (r, denied) = authorize::delete_topics(&authz, r);
                let resp = delete_topics::handle(self, r, version).await;
                ResponseKind::DeleteTopics(authorize::delete_topics_denied(resp, denied))
            }
            RequestKind::CreatePartitions(r) => {
                let (r, denied) = authorize::create_partitions(&authz, r);
                let resp = create_partitions::handle(self, r, version).await;
                ResponseKind::CreatePartitions(authorize::create_partitions_denied(resp, denied))
            }
            RequestKind::DescribeConfigs(r) => {
                let (r, denied) = authorize::describe_configs(&authz, r);
                let resp = describe_configs::handle(self, r, version);
                ResponseKind::DescribeConfigs(authorize::describe_configs_denied(resp, denied))
            }
            RequestKind::InitProducerId(r) if authorize::init_producer_id(&authz, &r).is_some() => {
                ResponseKind::InitProducerId(authorize::init_producer_id(&authz, &r).unwrap_or_default())
            }
            RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(
                init_producer_id::handle(self.transactions(), self.producer_ids(), r, version).await,
            ),
            RequestKind::OffsetForLeaderEpoch(r) => {
                let (r, denied) = authorize::offset_for_leader_epoch(&authz, r);
                let resp = offset_for_leader_epoch::handle(self.replicas(), r);
                ResponseKind::OffsetForLeaderEpoch(authorize::offset_for_leader_epoch_denied(resp, denied))
            }
            RequestKind::ElectLeaders(r) if !authz.cluster(AclOperation::Alter) => {
                ResponseKind::ElectLeaders(authorize::elect_leaders_denied(&r))
            }
            RequestKind::ElectLeaders(r) => {
                ResponseKind::ElectLeaders(elect_leaders::handle(self.metadata(), r, version).await)
            }
            RequestKind::AlterPartitionReassignments(_) if !authz.cluster(AclOperation::Alter) => {
                ResponseKind::AlterPartitionReassignments(authorize::alter_partition_reassignments_denied())
            }
            RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
                alter_partition_reassignments::handle(self.metadata(), r).await,
            ),
            RequestKind::ListPartitionReassignments(_) if !authz.cluster(AclOperation::Describe) => {
                ResponseKind::ListPartitionReassignments(authorize::list_partition_reassignments_denied())
            }
            RequestKind::ListPartitionReassignments(r) => {
                ResponseKind::ListPartitionReassignments(list_partition_reassignments::handle(self.metadata(), r))
            }
            RequestKind::FindCoordinator(r) => match authorize::find_coordinator(&authz, &r) {
                Some(code) => ResponseKind::FindCoordinator(authorize::find_coordinator_denied(code)),
                None => {
                    ResponseKind::FindCoordinator(find_coordinator::handle(self, r, version, &session.listener).await)
                }
            },
            RequestKind::JoinGroup(r) if !authorize::group_read(&authz, &r.group_id) => {
                ResponseKind::JoinGroup(authorize::join_group_denied())
            }
            RequestKind::JoinGroup(r) => {
                ResponseKind::JoinGroup(join_group::handle(self.groups(), r, version, &client_id, peer).await)
            }
            RequestKind::SyncGroup(r) if !authorize::group_read(&authz, &r.group_id) => {
                ResponseKind::SyncGroup(authorize::sync_group_denied())
            }
            RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group::handle(self.groups(), r).await),
            RequestKind::Heartbeat(r) if !authorize::group_read(&authz, &r.group_id) => {
                ResponseKind::Heartbeat(authorize::heartbeat_denied())
            }
            RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(self.groups(), r)),
            RequestKind::LeaveGroup(r) if !authorize::group_read(&authz, &r.group_id) => {
                ResponseKind::LeaveGroup(authorize::leave_group_denied())
            }
            RequestKind::LeaveGroup(r) => {
                ResponseKind::LeaveGroup(leave_group::handle(self.groups(), r, version).await)
            }
            RequestKind::OffsetCommit(r) => match authorize::offset_commit(&authz, r) {
                Err(resp) => ResponseKind::OffsetCommit(resp),
                Ok((r, denied)) => {
                    let resp = offset_commit::handle(self.groups(), r, version).await;
                    ResponseKind::OffsetCommit(authorize::offset_commit_denied(resp, denied, 29))
                }
            },
            RequestKind::OffsetFetch(r) => match authorize::offset_fetch_group(&authz, &r) {
                Some(resp) => ResponseKind::OffsetFetch(resp),
                None => {
                    let named = r.topics.is_some();
                    let resp = offset_fetch::handle(self.groups(), r, version);
                    ResponseKind::OffsetFetch(authorize::offset_fetch_topics(&authz, named, resp))
                }
            },
            RequestKind::DescribeGroups(r) => {
                let include = r.include_authorized_operations;
                let (r, denied) = authorize::describe_groups(&authz, r);
                let resp = describe_groups::handle(self.groups(), r);
                ResponseKind::DescribeGroups(authorize::describe_groups_denied(&authz, include, resp, denied))
            }
            RequestKind::ListGroups(r) => {
                ResponseKind::ListGroups(authorize::list_groups(&authz, list_groups::handle(self.groups(), r)))
            }
            RequestKind::DeleteGroups(r) => {
                let (r, denied) = authorize::delete_groups(&authz, r);
                let resp = delete_groups::handle(self.groups(), r).await;
                ResponseKind::DeleteGroups(authorize::delete_groups_denied(resp, denied))
            }
            RequestKind::OffsetDelete(r) => match authorize::offset_delete(&authz, r) {
                Err(resp) => ResponseKind::OffsetDelete(resp),
                Ok((r, denied)) => {
                    let resp = offset_delete::handle(self.groups(), r).await;
                    ResponseKind::OffsetDelete(authorize::offset_delete_denied(resp, denied))
                }
            },
            RequestKind::AddPartitionsToTxn(r) if authorize::add_partitions_to_txn(&authz, &r).is_some() => {
                ResponseKind::AddPartitionsToTxn(authorize::add_partitions_to_txn(&authz, &r).unwrap_or_default())
            }
            RequestKind::AddPartitionsToTxn(r) => ResponseKind::AddPartitionsToTxn(
                add_partitions_to_txn::handle(self.transactions(), self.metadata(), r, version).await,
            ),
            RequestKind::AddOffsetsToTxn(r) if authorize::add_offsets_to_txn(&authz, &r).is_some() => {
                ResponseKind::AddOffsetsToTxn(authorize::add_offsets_to_txn(&authz, &r).unwrap_or_default())
            }
            RequestKind::AddOffsetsToTxn(r) => ResponseKind::AddOffsetsToTxn(
                add_offsets_to_txn::handle(
                    self.transactions(),
                    self.metadata(),
                    self.config().offsets_topic_num_partitions,
                    r,
                    version,
                )
                .await,
            ),
            RequestKind::EndTxn(r) => match authorize::end_txn(&authz, &r) {
                Some(resp) => ResponseKind::EndTxn(resp),
                None => ResponseKind::EndTxn(end_txn::handle(self.transactions(), r, version).await),
            },
            RequestKind::WriteTxnMarkers(r) if !authz.cluster(AclOperation::ClusterAction) => {
                ResponseKind::WriteTxnMarkers(authorize::write_txn_markers_denied(&r))
            }
            RequestKind::WriteTxnMarkers(r) => {
                ResponseKind::WriteTxnMarkers(write_txn_markers::handle(self.replicas(), self.groups(), r).await)
            }
            RequestKind::TxnOffsetCommit(r) => match authorize::txn_offset_commit(&authz, r) {
                Err(resp) => ResponseKind::TxnOffsetCommit(resp),
                Ok((r, denied)) => {
                    let resp = txn_offset_commit::handle(self.groups(), r, version).await;
                    ResponseKind::TxnOffsetCommit(authorize::txn_offset_commit_denied(resp, denied, 29))
                }
            },
            RequestKind::DescribeProducers(r) => {
                let (r, denied) = authorize::describe_producers(&authz, r);
                let resp = describe_producers::handle(self.replicas(), self.metadata(), r);
                ResponseKind::DescribeProducers(authorize::describe_producers_denied(resp, denied))
            }
            RequestKind::DescribeTransactions(r) => {
                let (r, denied) = authorize::describe_transactions(&authz, r);
                let resp = describe_transactions::handle(self.transactions(), r);
                ResponseKind::DescribeTransactions(authorize::describe_transactions_denied(&authz, resp, denied))
            }
            RequestKind::ListTransactions(r) => {
                let resp = list_transactions::handle(self.transactions(), r, version);
                ResponseKind::ListTransactions(authorize::list_transactions(&authz, resp))
            }
            RequestKind::AlterConfigs(r) => {
                let (r, denied) = authorize::alter_configs(&authz, r);
                let resp = alter_configs::handle(self, r, version).await;
                ResponseKind::AlterConfigs(authorize::alter_configs_denied(resp, denied))
            }
            RequestKind::IncrementalAlterConfigs(r) => {
                let (r, denied) = authorize::incremental_alter_configs(&authz, r);
                let resp = incremental_alter_configs::handle(self, r, version).await;
                ResponseKind::IncrementalAlterConfigs(authorize::incremental_alter_configs_denied(resp, denied))
            }
            RequestKind::DescribeCluster(r) => {
                let include = r.include_cluster_authorized_operations;
                let resp = describe_cluster::handle(self.metadata(), r, version, &session.listener, self.node_id());
                ResponseKind::DescribeCluster(authorize::describe_cluster(&authz, include, resp))
            }
            RequestKind::DeleteRecords(r) => {
                let (r, denied) = authorize::delete_records(&authz, r);
                let resp = delete_records::handle(self.replicas(), self.logs(), r).await;
                ResponseKind::DeleteRecords(authorize::delete_records_denied(resp, denied))
            }
            RequestKind::DescribeLogDirs(_) if !authz.cluster(AclOperation::Describe) => {
                ResponseKind::DescribeLogDirs(authorize::describe_log_dirs_denied(version))
            }
            RequestKind::DescribeLogDirs(r) => {
                ResponseKind::DescribeLogDirs(describe_log_dirs::handle(self.replicas(), self.logs(), r))
            }
            RequestKind::AlterReplicaLogDirs(r) if !authz.cluster(AclOperation::Alter) => {
                ResponseKind::AlterReplicaLogDirs(authorize::alter_replica_log_dirs_denied(&r))
            }
            RequestKind::AlterReplicaLogDirs(r) => {
                ResponseKind::AlterReplicaLogDirs(alter_replica_log_dirs::handle(self.replicas(), self.logs(), r).await)
            }
            RequestKind::DescribeUserScramCredentials(_) if !authz.cluster(AclOperation::Describe) => {
                ResponseKind::DescribeUserScramCredentials(describe_user_scram_credentials::denied())
            }
            RequestKind::AlterUserScramCredentials(r) if !authz.cluster(AclOperation::Alter) => {
                ResponseKind::AlterUserScramCredentials(alter_user_scram_credentials::denied(&r))
            }
            RequestKind::DescribeUserScramCredentials(r) => ResponseKind::DescribeUserScramCredentials(
                describe_user_scram_credentials::handle(self.metadata(), r).await,
            ),
            RequestKind::AlterUserScramCredentials(r) => {
                ResponseKind::AlterUserScramCredentials(alter_user_scram_credentials::handle(self.metadata(), r).await)
            }
            RequestKind::DescribeClientQuotas(_) if !authz.cluster(AclOperation::DescribeConfigs) => {
                ResponseKind::DescribeClientQuotas(describe_client_quotas::denied())
            }
            RequestKind::DescribeClientQuotas(r) => {
                ResponseKind::DescribeClientQuotas(describe_client_quotas::handle(self.metadata(), r).await)
            }
            RequestKind::AlterClientQuotas(r) if !authz.cluster(AclOperation::AlterConfigs) => {
                ResponseKind::AlterClientQuotas(alter_client_quotas::denied(&r))
            }
            RequestKind::AlterClientQuotas(r) => {
                ResponseKind::AlterClientQuotas(alter_client_quotas::handle(self.metadata(), r).await)
            }
            RequestKind::CreateAcls(r) => {
                ResponseKind::CreateAcls(create_acls::handle(self.metadata(), &authz, r).await)
            }
            RequestKind::DescribeAcls(r) => {
                ResponseKind::DescribeAcls(describe_acls::handle(self.metadata(), &authz, r))
            }
            RequestKind::DeleteAcls(r) => {
                ResponseKind::DeleteAcls(delete_acls::handle(self.metadata(), &authz, r).await)
            }
            _ => return Outcome::Close(format!("{api:?} is not supported")),
        };
        let throttle = client_quotas::request_throttle(self, session, started.elapsed());
        if !throttle.is_zero() {
            client_quotas::set_throttle_time(&mut body, client_quotas::throttle_ms(throttle));
        }
        if let Some(slot) = session.request.kind {
            super::request_metrics::count_errors(&self.metrics().requests, slot, &body);
        }
        client_quotas::throttled(encode(api, version, peek.correlation_id, &body), throttle, true, session)
    }
}

fn encode(api: ApiKey, version: i16, correlation_id: i32, body: &ResponseKind) -> Outcome {
    match frame::encode_response(api, version, correlation_id, body) {
        Ok(bytes) => Outcome::Respond(bytes),
        Err(err) => {
            tracing::error!(%err, "cannot encode response");
            Outcome::Close(err.to_string())
        }
    }
}

/// How long an admin request waits for its effect: the client's timeout_ms,
/// or 10 s when it sent none (librdkafka sends 0 by default), at most 60 s.
pub(crate) fn admin_timeout(timeout_ms: i32) -> std::time::Duration {
    let ms = if timeout_ms > 0 { timeout_ms.min(60_000) } else { 10_000 };
    std::time::Duration::from_millis(ms as u64)
}

/// A client's address as Kafka reports it (`/127.0.0.1`).
pub(crate) fn client_host(peer: SocketAddr) -> String {
    format!("/{}", peer.ip())
}

/// `StrBytes` from an owned string.
pub(crate) fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// One topic's per-partition results: (partition, error).
pub(crate) type TopicResults = (String, Vec<(i32, Option<crate::protocol::ErrorCode>)>);

/// A coordinator's per-partition results grouped by topic, the topics in the
/// order the request named them (unnamed ones last), as commit answers list them.
pub(crate) fn in_request_order(order: &[String], results: crate::coordinator::PartitionResults) -> Vec<TopicResults> {
    let mut by_topic: std::collections::BTreeMap<usize, TopicResults> = std::collections::BTreeMap::new();
    for (topic, partition, error) in results {
        let index = order.iter().position(|t| *t == topic).unwrap_or(order.len());
        by_topic.entry(index).or_insert_with(|| (topic, Vec::new())).1.push((partition, error));
    }
    by_topic.into_values().collect()
}

/// `TopicName` from an owned string.
pub(crate) fn topic_name(s: impl Into<String>) -> TopicName {
    TopicName(sb(s))
}
