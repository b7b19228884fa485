#!/usr/bin/env bash
# Shared by the kafka-*.sh / zookeeper-*.sh wrappers: finds the gregor binary and
# runs the named tool with the caller's arguments.
#   $GREGOR if set; else release/gregor, debug/gregor in this checkout's cargo target
#   directory (wherever CARGO_TARGET_DIR or .cargo/config put it, as cargo reports it);
#   else `gregor` on PATH; else builds the release binary with cargo first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="$1"; shift
bin="${GREGOR:-}"
if [ -z "$bin" ]; then
  target="$root/target"
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    case "$CARGO_TARGET_DIR" in /*) target="$CARGO_TARGET_DIR" ;; *) target="$root/$CARGO_TARGET_DIR" ;; esac
  fi
  if { [ -n "${CARGO_TARGET_DIR:-}" ] || [ -e "$root/.cargo/config.toml" ] || [ -e "$root/.cargo/config" ]; } &&
    command -v cargo >/dev/null 2>&1; then
    reported="$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
      sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')" || true
    if [ -n "$reported" ]; then target="$reported"; fi
  fi
  for candidate in "$target/release/gregor" "$target/debug/gregor"; do
    if [ -x "$candidate" ]; then bin="$candidate"; break; fi
  done
  if [ -z "$bin" ] && command -v gregor >/dev/null 2>&1; then bin="$(command -v gregor)"; fi
  if [ -z "$bin" ]; then
    echo "gregor is not built yet; building it (cargo build --release)..." >&2
    (cd "$root" && cargo build --release --quiet)
    bin="$target/release/gregor"
  fi
fi
exec "$bin" "$tool" "$@"
