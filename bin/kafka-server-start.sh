#!/usr/bin/env bash
# Kafka's kafka-server-start.sh: kafka-server-start.sh [server.properties] [--override property=value]*
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" server-start "$@"
