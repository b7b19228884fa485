#!/usr/bin/env bash
# Shared by the kafka-*.sh / zookeeper-*.sh wrappers: finds the gregor binary and
# runs the named tool with the caller's arguments.
#   $GREGOR if set; else target/release/gregor, target/debug/gregor of this checkout;
#   else `gregor` on PATH; else builds the release binary with cargo first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="$1"; shift
bin="${GREGOR:-}"
if [ -z "$bin" ]; then
  for candidate in "$root/target/release/gregor" "$root/target/debug/gregor"; do
    if [ -x "$candidate" ]; then bin="$candidate"; break; fi
  done
fi
if [ -z "$bin" ] && command -v gregor >/dev/null 2>&1; then bin="$(command -v gregor)"; fi
if [ -z "$bin" ]; then
  echo "gregor is not built yet; building it (cargo build --release)..." >&2
  (cd "$root" && cargo build --release --quiet)
  bin="$root/target/release/gregor"
fi
exec "$bin" "$tool" "$@"
