#!/usr/bin/env bash
# Kafka's kafka-reassign-partitions.sh, served by gregor reassign-partitions.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" reassign-partitions "$@"
