#!/usr/bin/env bash
# Kafka's kafka-leader-election.sh, served by gregor leader-election.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" leader-election "$@"
