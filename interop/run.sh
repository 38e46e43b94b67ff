#!/usr/bin/env bash
# Runs the official SDKs against the emulator: builds acsidentity-emulator,
# starts it on a free port (with -allow-bearer, for the Entra ID cases),
# reads the connection string it prints, runs the suites, stops it with
# SIGTERM (it must exit 0).
#   - JS (@azure/communication-identity, interop/js/test.mjs) over HTTPS (the
#     SDK's normal mode; the self-signed certificate is trusted through
#     NODE_EXTRA_CA_CERTS) and over plain HTTP (the SDK needs
#     allowInsecureConnection there).
#   - Python (azure-communication-identity 1.3.2 from Debian's python3-azure,
#     interop/python/test_identity.py) over HTTPS only, the one scheme it
#     speaks, with the certificate in REQUESTS_CA_BUNDLE. Without the package
#     it is skipped, except under CI=true, where that is a failure.
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
  local mode="$1" args=(-addr 127.0.0.1:0 -allow-bearer) conn status=0
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
  if [[ "$mode" == "https" ]]; then
    if "$python" -c 'import azure.communication.identity' 2>/dev/null; then
      echo "== interop over $mode: official Python SDK"
      (
        cd "$here/python"
        ACS_CONNECTION_STRING="$conn" REQUESTS_CA_BUNDLE="$work/emulator.crt" "$python" -m unittest -v test_identity
      ) 2>&1 | tee "$work/python.log" || status=1
      # A client left open shows only as a ResourceWarning on stderr.
      if grep -q ResourceWarning "$work/python.log"; then
        echo "run.sh: the Python suite left connections open (ResourceWarning above)" >&2
        status=1
      fi
    elif [[ "${CI:-}" == "true" ]]; then
      echo "run.sh: $python cannot import azure.communication.identity (apt-get install python3-azure)" >&2
      status=1
    else
      echo "== interop over $mode: official Python SDK skipped: $python has no azure.communication.identity (apt-get install python3-azure)"
    fi
  fi
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

# Debian's interpreter, which python3-azure installs into (a python3 earlier
# on PATH, such as pyenv's, does not see it).
python="${PYTHON:-/usr/bin/python3}"
rc=0
for mode in ${MODES:-https http}; do
  run_mode "$mode" || rc=1
done
exit "$rc"
