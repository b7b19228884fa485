#!/usr/bin/env bash
# Kafka's kafka-delete-records.sh, served by gregor delete-records.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" delete-records "$@"
