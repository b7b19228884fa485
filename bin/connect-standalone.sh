#!/usr/bin/env bash
# Kafka's connect-standalone.sh, served by gregor connect-standalone.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" connect-standalone "$@"
