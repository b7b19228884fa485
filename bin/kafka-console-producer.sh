#!/usr/bin/env bash
# Kafka's kafka-console-producer.sh, served by gregor console-producer.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" console-producer "$@"
