#!/usr/bin/env bash
# Kafka's kafka-mirror-maker.sh, served by gregor mirror-maker.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" mirror-maker "$@"
