#!/usr/bin/env bash
# Kafka's kafka-acls.sh, served by gregor acls.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" acls "$@"
