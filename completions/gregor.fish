# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_gregor_global_optspecs
    string join \n h/help V/version
end

function __fish_gregor_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_gregor_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_gregor_using_subcommand
    set -l cmd (__fish_gregor_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c gregor -n "__fish_gregor_needs_command" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_needs_command" -s V -l version -d 'Print version'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "server-start" -d 'Start a Kafka-compatible broker'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "zookeeper-start" -d 'Start a ZooKeeper-compatible coordinator'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "topics" -d 'Create, delete, describe, or change a topic'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "console-producer" -d 'Read lines from standard input (or a prompt) and publish them as records'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "console-consumer" -d 'Read records from a topic and print them to standard output'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "consumer-groups" -d 'List, describe and delete consumer groups, and reset their offsets'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "perf" -d 'Measure producer or consumer throughput and latency, or the machine\'s limits'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "leader-election" -d 'Elect preferred or unclean leaders for topic partitions'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "preferred-replica-election" -d 'Move the leadership of partitions back to their preferred replicas (Kafka 0.10\'s tool)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "transactions" -d 'Analyze transactional state and find and abort hanging transactions'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "streams-application-reset" -d 'Reset a Kafka Streams application so that it reprocesses its input (Kafka\'s StreamsResetter)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "connect-standalone" -d 'Run Kafka Connect connectors in a standalone worker'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "connect-distributed" -d 'Run a Kafka Connect worker of a distributed Connect cluster'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "delete-records" -d 'Delete records of partitions below given offsets (move their log start offsets)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "get-offsets" -d 'Print the offsets of topic partitions (earliest, latest, by time)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "broker-api-versions" -d 'Print the API versions every broker of the cluster supports'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "dump-log" -d 'Print the contents of log segments, indexes, snapshots and checkpoints (offline)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "log-dirs" -d 'Describe the log directories of brokers and the replicas in them'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "reassign-partitions" -d 'Move partition replicas between brokers (generate, execute, verify, cancel or list reassignments)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "verifiable-producer" -d 'Produce the integers 0, 1, 2, ... and report every ack as a JSON line (kafka-verifiable-producer.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "verifiable-consumer" -d 'Consume in a group and report records, rebalances and commits as JSON lines (kafka-verifiable-consumer.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "zookeeper-shell" -d 'ZooKeeper\'s command-line client: ls, get, set, create, delete, stat (zookeeper-shell.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "server-stop" -d 'Stop the brokers running on this machine with SIGTERM (kafka-server-stop.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "zookeeper-server-stop" -d 'Stop the ZooKeeper-compatible coordinators running on this machine (zookeeper-server-stop.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "e2e-latency" -d 'Measure produce-to-consume latency one record at a time (kafka-e2e-latency.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "mirror-maker" -d 'Copy topics from one cluster into another (kafka-mirror-maker.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "configs" -d 'Describe and alter topic and broker configs (kafka-configs.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "acls" -d 'Add, remove and list access control lists (kafka-acls.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "streams" -d 'Run Kafka Streams applications (the quickstart\'s word count)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "run-class" -d 'Run the gregor tool standing for a Kafka Java class (kafka-run-class.sh)'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "cluster" -d 'Run a local multi-broker cluster as child processes'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "generate" -d 'Generate shell completions or man pages'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "console" -d 'Serve the web console (topics, records, consumer groups, live charts) for a cluster'
complete -c gregor -n "__fish_gregor_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand server-start" -l override -d 'Override a property of the file, e.g. --override broker.id=1' -r
complete -c gregor -n "__fish_gregor_using_subcommand server-start" -s d -l daemon
complete -c gregor -n "__fish_gregor_using_subcommand server-start" -l exit-with-parent -d 'Shut down when stdin reaches end of file (the parent process is gone)'
complete -c gregor -n "__fish_gregor_using_subcommand server-start" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand zookeeper-start" -l exit-with-parent -d 'Shut down when stdin reaches end of file (the parent process is gone)'
complete -c gregor -n "__fish_gregor_using_subcommand zookeeper-start" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l command-config -d 'Properties for the admin client (e.g. security.protocol=SSL)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l topic -d 'The topic to create, alter, describe or delete' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l partitions -d 'The number of partitions (create, or increase with --alter)' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l replication-factor -d 'The replication factor for each partition' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l replica-assignment -d 'Explicit replica assignment: partitions separated by \',\', replicas by \':\'' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l config -d 'A topic configuration override, e.g. --config retention.ms=86400000' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l delete-config -d 'With --alter --zookeeper: a topic config override to remove' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l output -d 'Output format for --list and --describe' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l bootstrap-server -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l zookeeper -d 'ZooKeeper connection, as in Kafka 0.10\'s tools (instead of --bootstrap-server)' -r
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l create -d 'Create a new topic'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l list -d 'List all available topics'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l describe -d 'List details for the given topics'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l delete -d 'Delete a topic'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l alter -d 'Alter the number of partitions, or (with --zookeeper) the configs, of a topic'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l if-not-exists -d 'With --create: do nothing if the topic exists'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l if-exists -d 'With --alter/--delete/--describe: do nothing if the topic is missing'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l under-replicated-partitions -d 'With --describe: only partitions whose ISR is smaller than the replica set'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l unavailable-partitions -d 'With --describe: only partitions without a leader'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -l exclude-internal -d 'Leave internal topics out of --list/--describe'
complete -c gregor -n "__fish_gregor_using_subcommand topics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l topic -d 'The topic to produce to' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l property -d 'Line-reader properties: parse.key=true, key.separator=<sep>, ignore.error=true' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l producer-property -d 'A producer config, e.g. --producer-property linger.ms=0' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l producer.config -d 'Producer configs in a properties file' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l compression-codec -d 'Compression codec: none, gzip (when given without a value), snappy, lz4 or zstd' -r -f -a "none\t''
gzip\t''
snappy\t''
lz4\t''
zstd\t''"
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l request-required-acks -d 'Acknowledgements the producer requires' -r -f -a "0\t''
1\t''
-1\t''
all\t''"
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l timeout -d 'How long a record may wait for a batch to fill (linger.ms)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l batch-size -d 'Batch size in bytes (batch.size)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l bootstrap-server -l broker-list -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l zookeeper -d 'ZooKeeper connection, as in Kafka 0.10\'s tools (instead of --bootstrap-server)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -l sync -d 'Send each record synchronously, waiting for its acknowledgement'
complete -c gregor -n "__fish_gregor_using_subcommand console-producer" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l topic -d 'The topic to consume from' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l include -l whitelist -d 'Consume every topic whose name matches this regular expression (subscribes; a group is generated when none is given)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l partition -d 'Consume only this partition' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l offset -d 'earliest, latest, or an offset (needs --partition)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l max-messages -d 'Exit after this many records' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l timeout-ms -d 'Exit if no record arrives for this long' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l property -d 'Formatter properties: print.key, print.value, print.timestamp, print.partition, print.offset, print.headers, key.separator, line.separator, headers.separator, null.literal, key.deserializer, value.deserializer' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l formatter -d 'The record formatter (only the default one)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l consumer-property -d 'A consumer config, e.g. --consumer-property fetch.max.wait.ms=100' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l consumer.config -d 'Consumer configs in a properties file' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l isolation-level -d 'read_uncommitted (default) or read_committed' -r -f -a "read_uncommitted\t''
read_committed\t''"
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l group -d 'Join this consumer group: partitions are shared with its other members and offsets are committed' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l key-deserializer -d 'How keys are printed, e.g. org.apache.kafka.common.serialization.LongDeserializer (same as --property key.deserializer=CLASS)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l value-deserializer -d 'How values are printed, e.g. org.apache.kafka.common.serialization.LongDeserializer (same as --property value.deserializer=CLASS)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l bootstrap-server -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l zookeeper -d 'ZooKeeper connection, as in Kafka 0.10\'s tools (instead of --bootstrap-server)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l from-beginning -d 'Start with the earliest record present instead of the latest'
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -l skip-message-on-error -d 'Skip a record that cannot be deserialized (with an error on stderr) instead of stopping'
complete -c gregor -n "__fish_gregor_using_subcommand console-consumer" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l bootstrap-server -d 'REQUIRED: the server(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l zookeeper -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l command-config -d 'Property file with client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l group -d 'The consumer group to act on (repeatable)' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l topic -d 'A topic (with --reset-offsets optionally some partitions: topic1:0,1,2) (repeatable)' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l state -d 'With --describe: the group\'s state; with --list: show (or only list) groups in these states' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l timeout -d 'How long to wait for the cluster, in milliseconds' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l to-offset -d 'Reset to this offset' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l shift-by -d 'Shift the current offset by N (may be negative)' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l to-datetime -d 'Reset to the first offset at or after this time (UTC unless a zone like +01:00 is given)' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l by-duration -d 'Reset to the first offset at or after now minus this duration' -r
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l from-file -d 'Reset to the offsets in a CSV file (topic,partition,offset or group,topic,partition,offset)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l output -d 'Output format for --list, --describe and --reset-offsets' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l list -d 'List all consumer groups'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l describe -d 'Describe consumer groups and their offset lag'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l delete -d 'Delete consumer groups (they must have no active members)'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l reset-offsets -d 'Reset the offsets of inactive consumer groups'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l delete-offsets -d 'Delete the committed offsets of a group for the given topics'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l all-groups -d 'Apply to all consumer groups'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l all-topics -d 'With --reset-offsets: every topic the group has committed offsets for'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l members -d 'With --describe: the group\'s members'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l verbose -d 'With --describe --members: add each member\'s assignment'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l offsets -d 'With --describe: partitions with their offsets and lag (the default)'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l dry-run -d 'Only show the new offsets (the default)'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l execute -d 'Commit the new offsets'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l export -d 'Print the new offsets as CSV'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l to-earliest -d 'Reset to the earliest offset'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l to-latest -d 'Reset to the latest offset'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -l to-current -d 'Reset to the current offset'
complete -c gregor -n "__fish_gregor_using_subcommand consumer-groups" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and not __fish_seen_subcommand_from producer consumer machine help" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and not __fish_seen_subcommand_from producer consumer machine help" -f -a "producer" -d 'Producer load test (kafka-producer-perf-test.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and not __fish_seen_subcommand_from producer consumer machine help" -f -a "consumer" -d 'Consumer load test (kafka-consumer-perf-test.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and not __fish_seen_subcommand_from producer consumer machine help" -f -a "machine" -d 'Measure this machine\'s loopback bandwidth and disk write rate'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and not __fish_seen_subcommand_from producer consumer machine help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l topic -d 'Topic to produce to' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l num-records -d 'Number of records to produce' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l record-size -d 'Record size in bytes' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l payload-file -d 'Records are picked at random from this file\'s lines' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l payload-delimiter -d 'Delimiter between payloads in --payload-file' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l throughput -d 'Throttle to this many records/sec; -1 = no limit' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l producer-props -d 'Producer configs, e.g. acks=1 linger.ms=5' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l producer.config -d 'Producer configs in a properties file' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l bootstrap-server -d 'Brokers (or bootstrap.servers in --producer-props)' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -l print-metrics -d 'Accepted for compatibility'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from producer" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l bootstrap-server -d 'Brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l topic -d 'Topic to consume from' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l messages -d 'Number of records to consume' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l timeout -d 'Give up if no record arrives for this long' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l fetch-size -d 'Bytes fetched per partition per request' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l reporting-interval -d 'Interval of detailed stats' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l consumer.config -d 'Consumer configs in a properties file' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l group -d 'Join this consumer group and subscribe (default: assign every partition, no group)' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l from-latest -d 'Start at the end instead of the beginning'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l hide-header -d 'Do not print the header line'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l show-detailed-stats -d 'Print a line every --reporting-interval'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -l print-metrics -d 'Accepted for compatibility'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from consumer" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from machine" -l dir -d 'Directory on the file system to measure, e.g. the broker\'s log.dirs [default: the temp dir]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from machine" -l bytes -d 'Bytes to write for the disk test; K, M, G suffixes are powers of 1024' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from machine" -l seconds -d 'How long the loopback test runs' -r
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from machine" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from help" -f -a "producer" -d 'Producer load test (kafka-producer-perf-test.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from help" -f -a "consumer" -d 'Consumer load test (kafka-consumer-perf-test.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from help" -f -a "machine" -d 'Measure this machine\'s loopback bandwidth and disk write rate'
complete -c gregor -n "__fish_gregor_using_subcommand perf; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l bootstrap-server -d 'Brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l admin.config -d 'Properties for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l election-type -d 'PREFERRED: move leadership to the preferred replica; UNCLEAN: elect a replica outside the ISR for partitions without a live in-sync replica' -r -f -a "PREFERRED\t''
UNCLEAN\t''"
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l topic -d 'The topic of the partition to elect a leader for (with --partition)' -r
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l partition -d 'The partition to elect a leader for (with --topic)' -r
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l path-to-json-file -d 'The partitions to elect leaders for: {"partitions":[{"topic":"t","partition":0}]}' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -l all-topic-partitions -d 'Elect leaders for every partition of every topic'
complete -c gregor -n "__fish_gregor_using_subcommand leader-election" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand preferred-replica-election" -l zookeeper -d 'ZooKeeper connect string: write the request for the controller there' -r
complete -c gregor -n "__fish_gregor_using_subcommand preferred-replica-election" -l bootstrap-server -d 'Brokers to connect to: elect through the ElectLeaders API' -r
complete -c gregor -n "__fish_gregor_using_subcommand preferred-replica-election" -l admin.config -d 'Properties for the admin client (with --bootstrap-server)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand preferred-replica-election" -l path-to-json-file -d 'The partitions, as {"partitions":[{"topic":"t","partition":0},...]} (default: all)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand preferred-replica-election" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -l bootstrap-server -d 'REQUIRED: the broker(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -l command-config -d 'Property file with admin client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -l output -d 'Output format: plain (Kafka\'s), table, json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -f -a "list" -d 'List transactions'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -f -a "describe" -d 'Describe the state of an active transactional id'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -f -a "describe-producers" -d 'Describe the states of active producers for a topic partition'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -f -a "abort" -d 'Abort a hanging transaction (writes its ABORT marker at the partition leader)'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -f -a "find-hanging" -d 'Find hanging transactions (open longer than the timeout and unknown to their coordinator)'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers abort find-hanging help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from list" -l duration-filter -d 'Only transactions running longer than this many milliseconds (< 0: all)' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from list" -l bootstrap-server -d 'REQUIRED: the broker(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from list" -l command-config -d 'Property file with admin client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from list" -l output -d 'Output format: plain (Kafka\'s), table, json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe" -l transactional-id -d 'The transactional id' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe" -l bootstrap-server -d 'REQUIRED: the broker(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe" -l command-config -d 'Property file with admin client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe" -l output -d 'Output format: plain (Kafka\'s), table, json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l broker-id -d 'Describe the producer state on this replica instead of the leader' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l topic -d 'Topic name' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l partition -d 'Partition number' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l bootstrap-server -d 'REQUIRED: the broker(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l command-config -d 'Property file with admin client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l output -d 'Output format: plain (Kafka\'s), table, json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l topic -d 'Topic name' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l partition -d 'Partition number' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l start-offset -d 'Start offset of the transaction to abort (its producer is looked up)' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l producer-id -d 'Producer id (with --producer-epoch and --coordinator-epoch)' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l producer-epoch -d 'Producer epoch' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l coordinator-epoch -d 'Coordinator epoch (-1, as describe-producers shows for none, is sent as 0)' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l bootstrap-server -d 'REQUIRED: the broker(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l command-config -d 'Property file with admin client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l output -d 'Output format: plain (Kafka\'s), table, json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from abort" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l broker-id -d 'Broker id to search for hanging transactions' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l max-transaction-timeout -d 'Maximum transaction timeout in minutes, to limit the scope of the search' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l topic -d 'Topic name to limit the search to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l partition -d 'Partition number (with --topic)' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l bootstrap-server -d 'REQUIRED: the broker(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l command-config -d 'Property file with admin client configs (request.timeout.ms, client.id, …)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l output -d 'Output format: plain (Kafka\'s), table, json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "list" -d 'List transactions'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "describe" -d 'Describe the state of an active transactional id'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "describe-producers" -d 'Describe the states of active producers for a topic partition'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "abort" -d 'Abort a hanging transaction (writes its ABORT marker at the partition leader)'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "find-hanging" -d 'Find hanging transactions (open longer than the timeout and unknown to their coordinator)'
complete -c gregor -n "__fish_gregor_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l application-id -d 'REQUIRED: the Kafka Streams application ID (application.id)' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l bootstrap-server -l bootstrap-servers -d 'The server(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l input-topics -d 'Comma-separated input topics: their offsets are reset to the earliest available offset, or as a reset option says' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l intermediate-topics -d '[deprecated in Kafka] Comma-separated topics the application both writes and reads: their offsets move to the end' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l internal-topics -d 'Comma-separated internal topics to delete: a subset of those the default deletes (see a --dry-run without this option)' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l to-offset -d 'Reset input offsets to this offset' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l to-datetime -d 'Reset input offsets to the first record at or after a time: \'YYYY-MM-DDTHH:mm:SS.sss[zone]\'' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l by-duration -d 'Reset input offsets to the first record at or after now minus a duration: \'PnDTnHnMnS\'' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l shift-by -d 'Shift the committed input offsets by N (negative moves back)' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l from-file -d 'Reset input offsets to those of a CSV file of TOPIC,PARTITION,OFFSET lines' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l command-config -d 'Property file with configs for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l config-file -d 'Property file with configs for the admin client (older name of --command-config)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l to-earliest -d 'Reset input offsets to the earliest offset (the default)'
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l to-latest -d 'Reset input offsets to the latest offset'
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l dry-run -d 'Show what would be done without changing anything'
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l execute -d 'Accepted for compatibility with Kafka 1.x-2.x, where it was the opposite of --dry-run'
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -l force -d 'Remove the group\'s members first (stop every instance of the application before using it)'
complete -c gregor -n "__fish_gregor_using_subcommand streams-application-reset" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand connect-standalone" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand connect-distributed" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand delete-records" -l bootstrap-server -d 'The server(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand delete-records" -l offset-json-file -d 'The JSON file with offset per partition: {"partitions":[{"topic":"foo","partition":1,"offset":1}],"version":1}' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand delete-records" -l command-config -d 'Properties for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand delete-records" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l bootstrap-server -l broker-list -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l zookeeper -d 'ZooKeeper connection, as in Kafka 0.10\'s tools (instead of --bootstrap-server)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l topic -d 'The topic(s) to get offsets of: a regular expression matched against whole names (default: all topics)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l partitions -d 'Comma-separated partition ids (default: all partitions)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l topic-partitions -d 'Comma-separated topic-partition patterns: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3 (not with --topic or --partitions)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l time -d '-1 or latest, -2 or earliest, -3 or max-timestamp, or a timestamp in ms (the first offset whose timestamp is at least it)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l command-config -d 'Properties for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l offsets -d 'Ignored (Kafka 0.10)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l max-wait-ms -d 'Ignored (Kafka 0.10)' -r
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -l exclude-internal-topics -d 'Leave internal topics out (only matters without --topic / --topic-partitions)'
complete -c gregor -n "__fish_gregor_using_subcommand get-offsets" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand broker-api-versions" -l bootstrap-server -d 'The server(s) to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand broker-api-versions" -l command-config -d 'Properties for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand broker-api-versions" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l files -d 'Comma-separated files to dump: .log, .index, .timeindex, .snapshot, .txnindex, checkpoints' -r
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l max-message-size -d 'Largest batch size accepted while reading' -r
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l max-bytes -d 'Stop reading a log after this many bytes' -r
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l key-decoder-class -d 'Accepted for Kafka\'s scripts; keys are printed as UTF-8 (StringDecoder)' -r
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l value-decoder-class -d 'Accepted for Kafka\'s scripts; payloads are printed as UTF-8 (StringDecoder)' -r
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l print-data-log -d 'Print the records\' keys and payloads (implies --deep-iteration)'
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l deep-iteration -d 'Print every record, not only the batches'
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l verify-index-only -d 'Only check the index entries against the log; print the mismatches'
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l index-sanity-check -d 'Only run the check the broker applies when it opens an index'
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -l skip-record-metadata -d 'With --print-data-log, print only the keys and payloads of records'
complete -c gregor -n "__fish_gregor_using_subcommand dump-log" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand log-dirs" -l bootstrap-server -d 'The server(s) to use for bootstrapping' -r
complete -c gregor -n "__fish_gregor_using_subcommand log-dirs" -l command-config -d 'Properties for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand log-dirs" -l broker-list -d 'Comma-separated broker ids to query (default: all brokers)' -r
complete -c gregor -n "__fish_gregor_using_subcommand log-dirs" -l topic-list -d 'Comma-separated topics whose replicas to show (default: all topics)' -r
complete -c gregor -n "__fish_gregor_using_subcommand log-dirs" -l describe -d 'Describe the specified log directories on the specified brokers'
complete -c gregor -n "__fish_gregor_using_subcommand log-dirs" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l bootstrap-server -d 'Brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l zookeeper -d 'ZooKeeper connection, as Kafka 0.10\'s tool (--generate, --execute, --verify)' -r
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l command-config -d 'Properties for the admin client (with --bootstrap-server)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l topics-to-move-json-file -d 'The topics to move, as {"topics":[{"topic":"t"}],"version":1} (--generate)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l broker-list -d 'The brokers to assign the topics to (--generate)' -r
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l reassignment-json-file -d 'The reassignment, as {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l throttle -d 'Limit inter-broker replication of the moving partitions (--execute)' -r
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l replica-alter-log-dirs-throttle -d 'Limit moves between log dirs of a broker (--execute)' -r
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l timeout -d 'How long to wait for the cluster to answer' -r
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l generate -d 'Propose an assignment of the topics of --topics-to-move-json-file over --broker-list'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l execute -d 'Start the reassignments of --reassignment-json-file'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l verify -d 'Report the reassignments of --reassignment-json-file; clear throttles once all are done'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l cancel -d 'Cancel the ongoing reassignments of --reassignment-json-file'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l list -d 'List the ongoing reassignments'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l additional -d 'Start the reassignments even though others are in progress (--execute)'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l preserve-throttles -d 'Leave the throttles in place (--verify, --cancel)'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -l disable-rack-aware -d 'Ignore racks when generating (gregor\'s proposals are rack-unaware anyway)'
complete -c gregor -n "__fish_gregor_using_subcommand reassign-partitions" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l bootstrap-server -l broker-list -d 'The brokers to connect to (--broker-list is the older name)' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l topic -d 'Produce messages to this topic' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l max-messages -d 'Produce this many messages; -1 produces until stopped' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l throughput -d 'Throttle to about this many messages per second; -1 = no limit' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l acks -d 'Acknowledgements the leader waits for: 0, 1 or -1 (all)' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l producer.config -d 'Producer config properties file' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l message-create-time -d 'Timestamp of the first message (ms since the epoch), advanced with the elapsed time; -1 = now' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l value-prefix -d 'Values become <prefix>.<n>' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -l repeating-keys -d 'Keys cycle through 0 .. N-1 (default: no key)' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-producer" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l bootstrap-server -l broker-list -d 'The brokers to connect to (--broker-list is the older name)' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l topic -d 'Consume messages from this topic' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l group-id -d 'The group id of the consumer group' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l group-instance-id -d 'A unique id making this consumer a static member of the group' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l max-messages -d 'Consume this many messages, then stop; -1 consumes until stopped' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l session-timeout -d 'The consumer\'s session timeout (session.timeout.ms)' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l reset-policy -d 'Where to start without a committed offset: earliest, latest or none' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l assignment-strategy -d 'The partition assignor (partition.assignment.strategy)' -r
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l group-protocol -d 'The group protocol; only classic is supported (KIP-848\'s consumer protocol is not)' -r -f -a "classic\t''
consumer\t''"
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l consumer.config -d 'Consumer config properties file' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l enable-autocommit -d 'Let the consumer commit offsets in the background instead of after every poll'
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -l verbose -d 'Print a record_data event for every record'
complete -c gregor -n "__fish_gregor_using_subcommand verifiable-consumer" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand zookeeper-shell" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand server-stop" -l node-id -d 'Stop only the broker with this broker.id / node.id' -r
complete -c gregor -n "__fish_gregor_using_subcommand server-stop" -l process-role -d 'Stop only servers with this role (gregor\'s brokers are brokers; there are no KRaft controllers)' -r -f -a "broker\t''
controller\t''"
complete -c gregor -n "__fish_gregor_using_subcommand server-stop" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand zookeeper-server-stop" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand e2e-latency" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -l consumer.config -d 'Source cluster consumer config (bootstrap.servers, group.id)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -l producer.config -d 'Target cluster producer config (bootstrap.servers)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -l include -l whitelist -d 'Topics to mirror: a regular expression (\',\' also separates alternatives)' -r
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -l num.streams -d 'Number of consumers in the group' -r
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -l offset.commit.interval.ms -d 'How often acknowledged source offsets are committed' -r
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -l abort.on.send.failure -d 'Stop on a failed send (true) or log and skip the record (false)' -r -f -a "true\t''
false\t''"
complete -c gregor -n "__fish_gregor_using_subcommand mirror-maker" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l entity-type -d 'topics, brokers, users (SCRAM credentials and quotas), clients (quotas)' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l entity-name -d 'Name of the entity: a topic name, a broker id or a user name' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l topic -d 'The topic (same as --entity-type topics --entity-name TOPIC)' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l broker -d 'The broker (same as --entity-type brokers --entity-name ID)' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l user -d 'The user (same as --entity-type users --entity-name USER): SCRAM credentials and quotas' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l client -d 'The client id (same as --entity-type clients --entity-name CLIENT_ID): quotas' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l add-config -d 'Configs to add or change; square brackets group list values' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l add-config-file -d 'A properties file of configs to add or change' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l delete-config -d 'Configs to remove (they fall back to the next layer)' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l command-config -d 'Properties for the admin client' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l bootstrap-server -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l zookeeper -d 'ZooKeeper connection, as in Kafka 0.10\'s tools (instead of --bootstrap-server)' -r
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l describe -d 'List configs for the entity'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l alter -d 'Alter the configs of the entity'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l entity-default -d 'The cluster-wide default (brokers: /config/brokers/<default>)'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l client-defaults -d 'The default client id\'s quotas (same as --entity-type clients --entity-default)'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l user-defaults -d 'The default user\'s quotas (same as --entity-type users --entity-default)'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l broker-defaults -d 'The cluster-wide broker default (same as --entity-type brokers --entity-default)'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -l all -d 'With --describe: every config, not only the dynamic ones'
complete -c gregor -n "__fish_gregor_using_subcommand configs" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l bootstrap-server -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l command-config -d 'Properties for the admin client (security settings)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l authorizer-properties -d 'Kafka\'s ZooKeeper form; not supported (use --bootstrap-server)' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l allow-principal -d 'Principal (Type:name, e.g. User:alice or User:*) to allow' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l deny-principal -d 'Principal (Type:name) to deny' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l allow-host -d 'Host (IP address) allowed principals may connect from [default: *]' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l deny-host -d 'Host (IP address) denied principals are denied from [default: *]' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l operation -d 'Operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All [default: All]' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l topic -d 'Topic (name, \'*\' for all, or a prefix with --resource-pattern-type prefixed)' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l group -d 'Consumer group (name, \'*\' or a prefix)' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l transactional-id -d 'Transactional id (name, \'*\' or a prefix)' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l resource-pattern-type -d 'literal or prefixed; for --list and --remove also any or match' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l principal -d 'With --list: only the ACLs of this principal' -r
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l add -d 'Add ACLs'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l remove -d 'Remove ACLs'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l list -d 'List ACLs of the resources given (all ACLs when none is given)'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l cluster -d 'The cluster resource'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l producer -d 'Producer ACLs: topic Write, Describe, Create (and transactional id Write, Describe)'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l idempotent -d 'With --producer: cluster IdempotentWrite'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l consumer -d 'Consumer ACLs: topic Read, Describe and group Read'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -l force -d 'Do not ask before removing'
complete -c gregor -n "__fish_gregor_using_subcommand acls" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and not __fish_seen_subcommand_from word-count help" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and not __fish_seen_subcommand_from word-count help" -f -a "word-count" -d 'The WordCountDemo: count words of the lines in a topic, write the counts to another'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and not __fish_seen_subcommand_from word-count help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l bootstrap-server -d 'Brokers to connect to [default: bootstrap.servers of the properties file, else 127.0.0.1:9092]' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l input -d 'Topic of text lines [default: streams-plaintext-input, or the 0.10 quickstart\'s streams-file-input when only that exists]' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l output -d 'Topic of (word, count) records, counts as 8-byte big-endian Longs' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l application-id -d 'application.id: consumer group, internal topic prefix, state directory [default: streams-wordcount]' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l state-dir -d 'state.dir [default: /tmp/kafka-streams]' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l processing-guarantee -d 'processing.guarantee: at_least_once (default) or exactly_once_v2' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l num-stream-threads -d 'num.stream.threads [default: 1]' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l property -d 'Any Streams config, e.g. --property commit.interval.ms=100' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l run-seconds -d 'Stop after this many seconds (as the 0.10 demo did); default: until Ctrl-C' -r
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -l print-topology -d 'Print the topology description and exit'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from word-count" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from help" -f -a "word-count" -d 'The WordCountDemo: count words of the lines in a topic, write the counts to another'
complete -c gregor -n "__fish_gregor_using_subcommand streams; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand run-class" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -l dir -d 'The cluster directory [default: <platform data dir>/gregor/cluster]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -f -a "up" -d 'Start a coordinator and N brokers; stay in the foreground unless --detach'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -f -a "status" -d 'Show the processes, their ZooKeeper registration and the controller'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -f -a "kill" -d 'SIGKILL one broker (a crash, for the failover demo)'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -f -a "start" -d 'Start a stopped broker again with the same properties'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -f -a "down" -d 'Stop every broker, then the coordinator; keep the data unless --purge'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and not __fish_seen_subcommand_from up status kill start down help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l brokers -d 'Number of brokers, ids 0..N-1 [default: 3, or the spec\'s brokers]' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l spec -d 'YAML spec: zookeeper port, brokers (id, port, overrides), topics to create, security (TLS, SASL, ACLs)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l base-port -d 'Port of the first broker; the next ones count up [default: 9092]' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l zookeeper-port -d 'Port of the coordinator [default: 2181]' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l override -d 'A broker property for every broker, e.g. --override num.partitions=3' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l timeout -d 'How long to wait for processes to start (or stop)' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l dir -d 'The cluster directory [default: <platform data dir>/gregor/cluster]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -l ephemeral-ports -d 'Pick free ports for everything the spec does not pin'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -s d -l detach -d 'Return once the cluster is up and leave it running (stop it with `cluster down`)'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from status" -l output -d 'table (plain is the same), json or yaml' -r -f -a "plain\t'Kafka\'s own text format'
table\t'An aligned table'
json\t'JSON (one document)'
yaml\t'YAML'"
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from status" -l dir -d 'The cluster directory [default: <platform data dir>/gregor/cluster]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from kill" -l dir -d 'The cluster directory [default: <platform data dir>/gregor/cluster]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from kill" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from start" -l timeout -d 'How long to wait for processes to start (or stop)' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from start" -l dir -d 'The cluster directory [default: <platform data dir>/gregor/cluster]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from down" -l timeout -d 'How long to wait for processes to start (or stop)' -r
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from down" -l dir -d 'The cluster directory [default: <platform data dir>/gregor/cluster]' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from down" -l purge -d 'Also delete the generated files, logs and data'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "up" -d 'Start a coordinator and N brokers; stay in the foreground unless --detach'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show the processes, their ZooKeeper registration and the controller'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "kill" -d 'SIGKILL one broker (a crash, for the failover demo)'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a stopped broker again with the same properties'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "down" -d 'Stop every broker, then the coordinator; keep the data unless --purge'
complete -c gregor -n "__fish_gregor_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -f -a "completions" -d 'Print (or write) the completion script for a shell'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -f -a "man" -d 'Write man pages (gregor.1 and one per tool)'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and not __fish_seen_subcommand_from completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from completions" -l dir -d 'Write into this directory instead of stdout' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from man" -l dir -r -F
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'Print (or write) the completion script for a shell'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'Write man pages (gregor.1 and one per tool)'
complete -c gregor -n "__fish_gregor_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand console" -l bootstrap-server -d 'Kafka-protocol brokers to connect to' -r
complete -c gregor -n "__fish_gregor_using_subcommand console" -l listen -d 'Where to serve the console (port 0 picks a free port)' -r
complete -c gregor -n "__fish_gregor_using_subcommand console" -l command-config -d 'Properties for the console\'s client (security.protocol, sasl.*, ssl.*)' -r -F
complete -c gregor -n "__fish_gregor_using_subcommand console" -l metrics-url -d 'A broker\'s Prometheus endpoint (http://host:9404/metrics) for the bytes in/out charts; repeat per broker' -r
complete -c gregor -n "__fish_gregor_using_subcommand console" -s h -l help -d 'Print help'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "server-start" -d 'Start a Kafka-compatible broker'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "zookeeper-start" -d 'Start a ZooKeeper-compatible coordinator'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "topics" -d 'Create, delete, describe, or change a topic'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "console-producer" -d 'Read lines from standard input (or a prompt) and publish them as records'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "console-consumer" -d 'Read records from a topic and print them to standard output'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "consumer-groups" -d 'List, describe and delete consumer groups, and reset their offsets'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "perf" -d 'Measure producer or consumer throughput and latency, or the machine\'s limits'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "leader-election" -d 'Elect preferred or unclean leaders for topic partitions'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "preferred-replica-election" -d 'Move the leadership of partitions back to their preferred replicas (Kafka 0.10\'s tool)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "transactions" -d 'Analyze transactional state and find and abort hanging transactions'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "streams-application-reset" -d 'Reset a Kafka Streams application so that it reprocesses its input (Kafka\'s StreamsResetter)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "connect-standalone" -d 'Run Kafka Connect connectors in a standalone worker'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "connect-distributed" -d 'Run a Kafka Connect worker of a distributed Connect cluster'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "delete-records" -d 'Delete records of partitions below given offsets (move their log start offsets)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "get-offsets" -d 'Print the offsets of topic partitions (earliest, latest, by time)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "broker-api-versions" -d 'Print the API versions every broker of the cluster supports'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "dump-log" -d 'Print the contents of log segments, indexes, snapshots and checkpoints (offline)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "log-dirs" -d 'Describe the log directories of brokers and the replicas in them'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "reassign-partitions" -d 'Move partition replicas between brokers (generate, execute, verify, cancel or list reassignments)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "verifiable-producer" -d 'Produce the integers 0, 1, 2, ... and report every ack as a JSON line (kafka-verifiable-producer.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "verifiable-consumer" -d 'Consume in a group and report records, rebalances and commits as JSON lines (kafka-verifiable-consumer.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "zookeeper-shell" -d 'ZooKeeper\'s command-line client: ls, get, set, create, delete, stat (zookeeper-shell.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "server-stop" -d 'Stop the brokers running on this machine with SIGTERM (kafka-server-stop.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "zookeeper-server-stop" -d 'Stop the ZooKeeper-compatible coordinators running on this machine (zookeeper-server-stop.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "e2e-latency" -d 'Measure produce-to-consume latency one record at a time (kafka-e2e-latency.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "mirror-maker" -d 'Copy topics from one cluster into another (kafka-mirror-maker.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "configs" -d 'Describe and alter topic and broker configs (kafka-configs.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "acls" -d 'Add, remove and list access control lists (kafka-acls.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "streams" -d 'Run Kafka Streams applications (the quickstart\'s word count)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "run-class" -d 'Run the gregor tool standing for a Kafka Java class (kafka-run-class.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "cluster" -d 'Run a local multi-broker cluster as child processes'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "generate" -d 'Generate shell completions or man pages'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "console" -d 'Serve the web console (topics, records, consumer groups, live charts) for a cluster'
complete -c gregor -n "__fish_gregor_using_subcommand help; and not __fish_seen_subcommand_from server-start zookeeper-start topics console-producer console-consumer consumer-groups perf leader-election preferred-replica-election transactions streams-application-reset connect-standalone connect-distributed delete-records get-offsets broker-api-versions dump-log log-dirs reassign-partitions verifiable-producer verifiable-consumer zookeeper-shell server-stop zookeeper-server-stop e2e-latency mirror-maker configs acls streams run-class cluster generate console help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from perf" -f -a "producer" -d 'Producer load test (kafka-producer-perf-test.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from perf" -f -a "consumer" -d 'Consumer load test (kafka-consumer-perf-test.sh)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from perf" -f -a "machine" -d 'Measure this machine\'s loopback bandwidth and disk write rate'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "list" -d 'List transactions'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "describe" -d 'Describe the state of an active transactional id'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "describe-producers" -d 'Describe the states of active producers for a topic partition'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "abort" -d 'Abort a hanging transaction (writes its ABORT marker at the partition leader)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "find-hanging" -d 'Find hanging transactions (open longer than the timeout and unknown to their coordinator)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from streams" -f -a "word-count" -d 'The WordCountDemo: count words of the lines in a topic, write the counts to another'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "up" -d 'Start a coordinator and N brokers; stay in the foreground unless --detach'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "status" -d 'Show the processes, their ZooKeeper registration and the controller'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "kill" -d 'SIGKILL one broker (a crash, for the failover demo)'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "start" -d 'Start a stopped broker again with the same properties'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "down" -d 'Stop every broker, then the coordinator; keep the data unless --purge'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'Print (or write) the completion script for a shell'
complete -c gregor -n "__fish_gregor_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'Write man pages (gregor.1 and one per tool)'
