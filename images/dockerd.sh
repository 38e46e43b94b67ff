#!/usr/bin/env bash
# Starts and stops a Docker daemon of this test run's own, for CI machines
# where none runs (.ci/run uses it for images/test.sh, compose and the
# Testcontainers module's tests):
#
#   eval "$(images/dockerd.sh start DIR)"   # exports DOCKER_HOST=unix://DIR/docker.sock
#   images/dockerd.sh stop DIR              # stops it and removes DIR's contents
#
# It runs Debian's docker.io daemon as
#
#   dockerd --iptables=false --ip6tables=false --storage-driver=vfs --ip 127.0.0.1
#
# with --data-root, --exec-root, --pidfile and --host unix://… under DIR
# (a new, short path: the daemon's sockets must fit in 108 bytes). No
# iptables rules, which the sandbox refuses; vfs, the storage driver that
# needs no overlay mounts (each layer a full copy: slow for big images,
# fine for these FROM scratch ones); published ports bound to 127.0.0.1
# unless a -p names another address. Bridge networking and -p publishing
# work without iptables here through docker-proxy. There is no registry:
# images are built locally.
set -euo pipefail

usage() { echo "usage: images/dockerd.sh start|stop DIR" >&2; exit 2; }
[[ $# == 2 ]] || usage
dir="$2"

case "$1" in
  start)
    command -v dockerd >/dev/null || { echo "images/dockerd.sh: dockerd is not installed (Debian: apt-get install docker.io)" >&2; exit 1; }
    mkdir -p "$dir"
    sock="unix://$dir/docker.sock"
    dockerd --iptables=false --ip6tables=false --storage-driver=vfs --ip 127.0.0.1 \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
      --host "$sock" >"$dir/dockerd.log" 2>&1 &
    for ((i = 0; i < 120; i++)); do
      if DOCKER_HOST="$sock" docker version >/dev/null 2>&1; then
        echo "export DOCKER_HOST=$sock"
        exit 0
      fi
      kill -0 $! 2>/dev/null || break
      sleep 0.5
    done
    echo "images/dockerd.sh: the daemon did not start; its log:" >&2
    tail -n 30 "$dir/dockerd.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$dir/docker.pid" ]]; then
      pid="$(cat "$dir/docker.pid")"
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
    # vfs layers and container mounts: unmount what is left, then remove.
    { grep -o " $dir/[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
