#!/usr/bin/env bash
# Kafka's kafka-consumer-perf-test.sh, served by gregor perf consumer.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" perf consumer "$@"
