#!/usr/bin/env bash
# Kafka's kafka-dump-log.sh, served by gregor dump-log.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" dump-log "$@"
