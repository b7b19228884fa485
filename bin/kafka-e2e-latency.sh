#!/usr/bin/env bash
# Kafka's kafka-e2e-latency.sh, served by gregor e2e-latency.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" e2e-latency "$@"
