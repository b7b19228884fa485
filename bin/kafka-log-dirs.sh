#!/usr/bin/env bash
# Kafka's kafka-log-dirs.sh, served by gregor log-dirs.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" log-dirs "$@"
