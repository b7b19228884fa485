#!/usr/bin/env bash
# Kafka's kafka-streams-application-reset.sh, served by gregor streams-application-reset.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" streams-application-reset "$@"
