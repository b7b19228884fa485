#!/usr/bin/env bash
# Kafka's kafka-broker-api-versions.sh, served by gregor broker-api-versions.
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" broker-api-versions "$@"
