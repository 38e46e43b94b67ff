#!/usr/bin/env bash
# bench/profile.sh — where the CPU goes in the Go c=16 cell of js-vs-go.sh:
# CPU profiles of goload (the client) and of the emulator (bench/emuprof,
# which serves the emulator exactly as the command does, with a profiler)
# during one run of GetToken with C goroutines, then pprof's top functions by
# cumulative and by flat CPU for each.
#
#   bash bench/profile.sh                 # MODE=https C=16 DURATION_S=10
#   MODE=http OUT=/tmp/prof bash bench/profile.sh
#
# The profiles stay in OUT (default bench/results/profile-MODE, git-ignored):
# go tool pprof -http=127.0.0.1:0 OUT/goload OUT/goload.pprof
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
MODE="${MODE:-https}"
C="${C:-16}"
DURATION_S="${DURATION_S:-10}"
WARMUP_S="${WARMUP_S:-2}"
NODES="${NODES:-25}"
out="${OUT:-$here/results/profile-$MODE}"
mkdir -p "$out"
emu_pid=""
cleanup() {
  if [[ -n "$emu_pid" ]] && kill -0 "$emu_pid" 2>/dev/null; then
    kill -TERM "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

(cd "$root" && go build -o "$out/emuprof" ./bench/emuprof && go build -o "$out/goload" ./bench/goload)
args=(-addr 127.0.0.1:0 -cpuprofile "$out/emulator.pprof")
if [[ "$MODE" == "https" ]]; then
  args+=(-tls -cert-out "$out/emulator.crt")
  export SSL_CERT_FILE="$out/emulator.crt"
fi
rm -f "$out/fifo"
mkfifo "$out/fifo"
"$out/emuprof" "${args[@]}" >"$out/fifo" 2>"$out/emulator.log" &
emu_pid=$!
exec 3<"$out/fifo"
IFS= read -r -t 30 conn <&3
export ACS_CONNECTION_STRING="$conn"
user="$("$out/goload" -create-user)"
"$out/goload" -user "$user" -c "$C" -d "${DURATION_S}s" -warmup "${WARMUP_S}s" -emu-pid "$emu_pid" \
  -cpuprofile "$out/goload.pprof" | tee "$out/goload.json"
kill -TERM "$emu_pid"
wait "$emu_pid" || true
emu_pid=""
rm -f "$out/fifo"

for who in goload emulator; do
  bin="$out/$who"
  [[ "$who" == emulator ]] && bin="$out/emuprof"
  echo
  echo "== $who: top $NODES by cumulative CPU"
  go tool pprof -top -cum -nodecount="$NODES" "$bin" "$out/$who.pprof" 2>/dev/null | sed -n '1,/^ *flat/d;p' | head -n "$NODES"
  echo "== $who: top $NODES by flat CPU"
  go tool pprof -top -nodecount="$NODES" "$bin" "$out/$who.pprof" 2>/dev/null | sed -n '1,/^ *flat/d;p' | head -n "$NODES"
done
