#!/usr/bin/env bash
# Kafka's zookeeper-shell.sh, served by gregor zookeeper-shell.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" zookeeper-shell "$@"
