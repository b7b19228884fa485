#!/usr/bin/env bash
# Kafka's kafka-topics.sh, served by gregor topics.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" topics "$@"
