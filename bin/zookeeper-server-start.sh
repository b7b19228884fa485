#!/usr/bin/env bash
# ZooKeeper's zookeeper-server-start.sh, served by gregor zookeeper-start.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" zookeeper-start "$@"
