#!/usr/bin/env bash
# Kafka's kafka-producer-perf-test.sh, served by gregor perf producer.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" perf producer "$@"
