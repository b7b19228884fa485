#!/usr/bin/env bash
# Kafka's zookeeper-server-stop.sh, served by gregor zookeeper-server-stop.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" zookeeper-server-stop "$@"
