#!/usr/bin/env bash
# Kafka's kafka-server-stop.sh, served by gregor server-stop.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" server-stop "$@"
