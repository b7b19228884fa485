#!/usr/bin/env bash
# Kafka's kafka-consumer-groups.sh, served by gregor consumer-groups.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" consumer-groups "$@"
