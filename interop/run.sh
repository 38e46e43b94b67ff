#!/usr/bin/env bash
# Runs the official JS SDK (@azure/communication-identity) against the
# emulator: builds acsidentity-emulator, starts it on a free port, reads the
# connection string it prints, runs interop/js/test.mjs, stops it with
# SIGTERM (it must exit 0). It does this over HTTPS (the SDK's normal mode;
# the self-signed certificate is trusted through NODE_EXTRA_CA_CERTS) and
# over plain HTTP (the SDK needs allowInsecureConnection there).
# MODES="https" or MODES="http" runs one. Exits non-zero if anything fails.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
work="$(mktemp -d)"
emu_pid=""
cleanup() {
  if [[ -n "$emu_pid" ]] && kill -0 "$emu_pid" 2>/dev/null; then
    kill -TERM "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/acsidentity-emulator" ./cmd/acsidentity-emulator)
if [[ ! -d "$here/js/node_modules" ]]; then
  (cd "$here/js" && npm ci --no-audit --no-fund)
fi

run_mode() {
  local mode="$1" args=(-addr 127.0.0.1:0) conn status=0
  if [[ "$mode" == "https" ]]; then
    args+=(-tls -cert-out "$work/emulator.crt")
  fi
  rm -f "$work/out"
  mkfifo "$work/out"
  "$work/acsidentity-emulator" "${args[@]}" >"$work/out" 2>"$work/stderr-$mode.log" &
  emu_pid=$!
  exec 3<"$work/out"
  if ! IFS= read -r -t 30 conn <&3; then
    echo "run.sh: the emulator did not print its connection string" >&2
    cat "$work/stderr-$mode.log" >&2
    return 1
  fi
  case "$conn" in
    endpoint=*\;accesskey=*) ;;
    *) echo "run.sh: unexpected first line from the emulator" >&2; return 1 ;;
  esac
  echo "== interop over $mode"
  (
    cd "$here/js"
    if [[ "$mode" == "https" ]]; then export NODE_EXTRA_CA_CERTS="$work/emulator.crt"; fi
    ACS_CONNECTION_STRING="$conn" node --test test.mjs
  ) || status=$?
  kill -TERM "$emu_pid"
  if ! wait "$emu_pid"; then
    echo "run.sh: the emulator did not exit cleanly" >&2
    cat "$work/stderr-$mode.log" >&2
    status=1
  fi
  emu_pid=""
  exec 3<&-
  return "$status"
}

rc=0
for mode in ${MODES:-https http}; do
  run_mode "$mode" || rc=1
done
exit "$rc"
