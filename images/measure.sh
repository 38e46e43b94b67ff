#!/usr/bin/env bash
# Measures the images for the README's Benchmarks: their sizes, and the
# time from `podman run` to the first answer through the published port,
# over RUNS runs (default 10) each, with the same binaries outside a
# container for comparison. Builds the images first (scripts/images.sh)
# with a unique tag, and removes them and its containers at the end.
#
# Usage: images/measure.sh        RUNS=20 images/measure.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-10}"
id="acsidentity-measure-$$-$RANDOM"
work="$(mktemp -d)"
current=""
cleanup() {
  [[ -n "$current" ]] && podman rm --force --time 0 "$current" >/dev/null 2>&1
  podman rmi --force "localhost/acsidentity-emulator:$id" "localhost/acsidentity-trusted-service:$id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
podman_run=(podman run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

ENGINE=podman TAG="$id" "$root/scripts/images.sh" >/dev/null

now_ms() { date +%s%3N; }

# wait_answer URL: polls every 5 ms until URL answers 200 (10 s at most).
wait_answer() {
  local deadline=$(($(now_ms) + 10000))
  until curl -fso /dev/null "$1"; do
    (($(now_ms) < deadline)) || { echo "measure.sh: no answer from $1" >&2; return 1; }
    sleep 0.005
  done
}

# stats NAME MS...: prints the median, the minimum and the maximum.
stats() {
  local name="$1"; shift
  sort -n <<<"$(printf '%s\n' "$@")" | awk -v name="$name" '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "%-50s median %4d ms   min %4d ms   max %4d ms   (%d runs)\n", name, m, a[1], a[NR], NR }'
}

# container IMAGE PORT PATH [ARGS...]: podman run to the first answer.
container() {
  local image="$1" port="$2" path="$3" times=() returned=() i t0 host
  shift 3
  for ((i = 0; i < runs; i++)); do
    current="$id-$i"
    t0=$(now_ms)
    "${podman_run[@]}" -d --name "$current" -p "127.0.0.1::$port" "$image" "$@" >/dev/null 2>&1
    returned+=($(($(now_ms) - t0)))
    host="$(podman port "$current" "$port" | head -n1)"
    wait_answer "http://$host$path"
    times+=($(($(now_ms) - t0)))
    podman rm --force --time 0 "$current" >/dev/null 2>&1
    current=""
  done
  stats "$(basename "${image%%:*}"): podman run -d returned" "${returned[@]}"
  stats "$(basename "${image%%:*}"): first answer" "${times[@]}"
}

# binary NAME PORT PATH COMMAND...: the same binary started directly.
binary() {
  local name="$1" port="$2" path="$3" times=() i t0 pid
  shift 3
  for ((i = 0; i < runs; i++)); do
    t0=$(now_ms)
    "$@" >/dev/null 2>&1 &
    pid=$!
    wait_answer "http://127.0.0.1:$port$path"
    times+=($(($(now_ms) - t0)))
    kill "$pid"; wait "$pid" || true
  done
  stats "$name, the binary alone" "${times[@]}"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for name in emulator trusted-service; do
  image="localhost/acsidentity-$name:$id"
  printf '%-50s %s bytes (%s)\n' "acsidentity-$name image" \
    "$(podman image inspect --format '{{.Size}}' "$image")" "$(podman images --format '{{.Size}}' "$image")"
done
container "localhost/acsidentity-emulator:$id" 10780 /.emulator/health
container "localhost/acsidentity-trusted-service:$id" 8080 /

(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$work/" ./cmd/acsidentity-emulator ./examples/trusted-service)
port=$((20000 + RANDOM % 20000))
binary acsidentity-emulator "$port" /.emulator/health "$work/acsidentity-emulator" -addr "127.0.0.1:$port"
binary trusted-service "$port" / env PORT="$port" "$work/trusted-service"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
