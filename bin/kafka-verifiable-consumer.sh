#!/usr/bin/env bash
# Kafka's kafka-verifiable-consumer.sh, served by gregor verifiable-consumer.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" verifiable-consumer "$@"
