#!/usr/bin/env bash
# Kafka's kafka-verifiable-producer.sh, served by gregor verifiable-producer.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" verifiable-producer "$@"
