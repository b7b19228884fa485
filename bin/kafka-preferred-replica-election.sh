#!/usr/bin/env bash
# Kafka 0.10's kafka-preferred-replica-election.sh, served by gregor preferred-replica-election.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" preferred-replica-election "$@"
