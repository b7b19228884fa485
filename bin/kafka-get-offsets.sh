#!/usr/bin/env bash
# Kafka's kafka-get-offsets.sh, served by gregor get-offsets.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" get-offsets "$@"
