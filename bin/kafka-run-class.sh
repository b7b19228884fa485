#!/usr/bin/env bash
# Kafka's kafka-run-class.sh: kafka-run-class.sh [-daemon] [-name servicename] [-loggc] classname [opts]
# served by gregor run-class (Kafka's tool classes map to gregor's tools).
exec "$(dirname "${BASH_SOURCE[0]}")/gregor-run.sh" run-class "$@"
