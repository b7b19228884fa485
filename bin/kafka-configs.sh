#!/usr/bin/env bash
# Kafka's kafka-configs.sh, served by gregor configs.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" configs "$@"
