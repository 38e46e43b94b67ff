#!/usr/bin/env bash
# bench/js-vs-go.sh — GetToken throughput of the official JS SDK
# (@azure/communication-identity, pinned by bench/js/package-lock.json)
# against this library (bench/goload), both against ONE emulator process
# (cmd/acsidentity-emulator) on a free loopback port.
#
# Each cell is: a fresh client process, WARMUP_S seconds not counted, then
# DURATION_S seconds counted; ops/s = successful GetToken calls completed in
# the counted window / its length. Cells are interleaved (JS c=1, Go c=1,
# JS c=16, Go c=16, then again) RUNS times and the table shows the median of
# the runs. Concurrency 16 is 16 in-flight promises in one Node process
# (JS_PROCS=2 splits them over 2 processes, 8 each) and 16 goroutines in one
# Go process.
#
# Besides ops/s it reports, per cell, the client's and the emulator's CPU
# time per operation (from getrusage and /proc/PID/stat) so that one can see
# whether the emulator was the limit.
#
# Environment (all optional):
#   MODE=https|http   https (default; the SDKs' normal mode, the emulator's
#                     self-signed certificate is trusted via
#                     NODE_EXTRA_CA_CERTS / SSL_CERT_FILE) or plain http (the JS
#                     SDK then needs allowInsecureConnection, as in interop/)
#   DURATION_S=5 WARMUP_S=2 RUNS=3   per cell; the default whole run is ~1.5 min
#   CONCURRENCY="1 16"
#   JS_PROCS=1        Node processes sharing the JS concurrency (c=16 with JS_PROCS=2:
#                     2 processes with 8 in flight each; c=1 stays 1 process)
#   OUT=dir           keep the raw JSON lines and logs there (default: a temp dir, removed)
#
# Exits non-zero if anything fails or any request errored.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
MODE="${MODE:-https}"
DURATION_S="${DURATION_S:-5}"
WARMUP_S="${WARMUP_S:-2}"
RUNS="${RUNS:-3}"
CONCURRENCY="${CONCURRENCY:-1 16}"
JS_PROCS="${JS_PROCS:-1}"
case "$MODE" in https | http) ;; *) echo "js-vs-go.sh: MODE must be https or http" >&2; exit 2 ;; esac

work="$(mktemp -d)"
keep="${OUT:-}"
emu_pid=""
cleanup() {
  if [[ -n "$emu_pid" ]] && kill -0 "$emu_pid" 2>/dev/null; then
    kill -TERM "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  if [[ -n "$keep" ]]; then
    mkdir -p "$keep" && cp "$work"/*.jsonl "$work"/*.log "$keep"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building (emulator, goload) and checking node_modules" >&2
(cd "$root" && go build -o "$work/acsidentity-emulator" ./cmd/acsidentity-emulator && go build -o "$work/goload" ./bench/goload)
if [[ ! -d "$here/js/node_modules" ]]; then
  (cd "$here/js" && npm ci --no-audit --no-fund >&2)
fi

args=(-addr 127.0.0.1:0)
if [[ "$MODE" == "https" ]]; then
  args+=(-tls -cert-out "$work/emulator.crt")
fi
mkfifo "$work/out"
"$work/acsidentity-emulator" "${args[@]}" >"$work/out" 2>"$work/emulator.log" &
emu_pid=$!
exec 3<"$work/out"
if ! IFS= read -r -t 30 conn <&3; then
  echo "js-vs-go.sh: the emulator did not print its connection string" >&2
  cat "$work/emulator.log" >&2
  exit 1
fi
case "$conn" in endpoint=*\;accesskey=*) ;; *) echo "js-vs-go.sh: unexpected first line from the emulator" >&2; exit 1 ;; esac
# Drain the fifo so the emulator never blocks on stdout.
cat <&3 >/dev/null &
case "$conn" in *127.0.0.1* | *\[::1\]* | *localhost*) ;; *) echo "js-vs-go.sh: the emulator is not on loopback" >&2; exit 1 ;; esac

if [[ "$MODE" == "https" ]]; then
  export NODE_EXTRA_CA_CERTS="$work/emulator.crt" SSL_CERT_FILE="$work/emulator.crt"
fi
export ACS_CONNECTION_STRING="$conn"
clk_tck="$(getconf CLK_TCK 2>/dev/null || echo 100)"

user="$("$work/goload" -create-user)"
echo "== emulator pid $emu_pid ($MODE), user $user; ${RUNS} run(s) of ${WARMUP_S}s warm-up + ${DURATION_S}s per cell" >&2

run_js() { # concurrency -> the JSON lines of its processes (JS_PROCS, at most one per request in flight)
  local c="$1" procs="$JS_PROCS" i pids=()
  ((procs > c)) && procs="$c"
  if ((c % procs != 0)); then
    echo "js-vs-go.sh: concurrency $c does not split over JS_PROCS=$JS_PROCS processes" >&2
    return 1
  fi
  local per=$((c / procs))
  for ((i = 0; i < procs; i++)); do
    (cd "$here/js" && USER_ID="$user" CONCURRENCY="$per" DURATION_S="$DURATION_S" WARMUP_S="$WARMUP_S" \
      EMU_PID="$emu_pid" CLK_TCK="$clk_tck" node load.mjs >"$work/js.$i.json" 2>>"$work/js.log") &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  cat "$work"/js.*.json
  rm -f "$work"/js.*.json
}

run_go() {
  "$work/goload" -user "$user" -c "$1" -d "${DURATION_S}s" -warmup "${WARMUP_S}s" -emu-pid "$emu_pid" -clk-tck "$clk_tck" 2>>"$work/go.log"
}

: >"$work/results.jsonl"
for ((r = 1; r <= RUNS; r++)); do
  for c in $CONCURRENCY; do
    for sdk in js go; do
      "run_$sdk" "$c" | node "$here/js/summarize.mjs" cell "$r" "$c" >>"$work/results.jsonl"
    done
  done
done

nproc_="$(nproc)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
gov="$(go version | awk '{print $3}')"
nodev="$(node --version)"
sdkv="$(cd "$here/js" && node -p 'require("./node_modules/@azure/communication-identity/package.json").version' 2>/dev/null || true)"
echo
echo "GetToken (scope chat, one user) against one acsidentity-emulator process over $MODE on loopback"
echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ) | nproc $nproc_ | $cpu | load avg $load at end"
echo "$gov | node $nodev | @azure/communication-identity $sdkv | JS c=16: ${JS_PROCS} process(es)"
echo "median of $RUNS run(s), each ${WARMUP_S}s warm-up + ${DURATION_S}s counted"
echo
node "$here/js/summarize.mjs" table "$work/results.jsonl" "$CONCURRENCY"

errors="$(node "$here/js/summarize.mjs" errors "$work/results.jsonl")"
if [[ "$errors" != "0" ]]; then
  echo "js-vs-go.sh: request(s) failed: $errors" >&2
  exit 1
fi
