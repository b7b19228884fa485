#!/usr/bin/env bash
# Kafka's connect-distributed.sh, served by gregor connect-distributed.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" connect-distributed "$@"
