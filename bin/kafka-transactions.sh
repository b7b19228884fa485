#!/usr/bin/env bash
# Kafka's kafka-transactions.sh, served by gregor transactions.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" transactions "$@"
