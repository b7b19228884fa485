#!/usr/bin/env bash
# Kafka's kafka-console-consumer.sh, served by gregor console-consumer.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" console-consumer "$@"
