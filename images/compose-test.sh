#!/usr/bin/env bash
# The compose test (.ci/run runs it on its own Docker daemon): compose.yaml
# as the README uses it, with Debian's docker-compose (COMPOSE to use
# another, such as "docker compose"):
#
#  1. `up -d` returns once the emulator's health check has passed and the
#     trusted service has started after it;
#  2. curl gets a token from the service; another container on the
#     project's network reaches the emulator by its service name; the
#     official JS SDK makes an identity and a token through the emulator's
#     published port;
#  3. `down`, then `up -d`: the identity and its token are still there
#     (the volume emulator-data);
#  4. one `down -v` removes the containers, the network and the volume.
#
# It builds the images under a unique tag (ACS_IMAGE_TAG), runs the
# project under a unique name on free loopback ports (ACS_EMULATOR_PORT,
# ACS_SERVICE_PORT), and removes all of it when it ends.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
read -r -a compose <<<"${COMPOSE:-docker-compose}"
command -v "${compose[0]}" >/dev/null || { echo "images/compose-test.sh: ${compose[0]} is not installed (Debian: apt-get install docker-compose)" >&2; exit 1; }
project="acsidentity-compose-$$-$RANDOM"
export ACS_IMAGE_TAG="$project"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ACS_EMULATOR_PORT="$(free_port)"
ACS_SERVICE_PORT="$(free_port)"
export ACS_EMULATOR_PORT ACS_SERVICE_PORT
dc=("${compose[@]}" --project-name "$project" --file "$root/compose.yaml")

cleanup() {
  "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  docker rmi --force "acsidentity-emulator:$ACS_IMAGE_TAG" "acsidentity-trusted-service:$ACS_IMAGE_TAG" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "images/compose-test.sh: $*" >&2; "${dc[@]}" logs >&2 || true; exit 1; }
step() { echo "== compose: $*"; }

step "build (scripts/images.sh)"
ENGINE=docker TAG="$ACS_IMAGE_TAG" "$root/scripts/images.sh"

if [[ ! -d "$root/interop/js/node_modules" ]]; then
  (cd "$root/interop/js" && npm ci --no-audit --no-fund)
fi

up() {
  local t0=$SECONDS
  "${dc[@]}" up -d 2>&1 | sed 's/^/  /'
  [[ ${PIPESTATUS[0]} == 0 ]] || fail "up -d failed"
  local status
  status="$(docker inspect --format '{{.State.Health.Status}}' "$("${dc[@]}" ps -q emulator)")"
  [[ "$status" == healthy ]] || fail "up -d returned with the emulator $status"
  echo "up in $((SECONDS - t0)) s, emulator $status"
}

step "up -d (the service waits for the emulator's health check)"
up
answer="$(curl -fsS "http://127.0.0.1:$ACS_SERVICE_PORT/api/token?scopes=chat")" || fail "GET /api/token failed"
[[ "$answer" == *'"communicationUserId":"8:acs:'* && "$answer" == *'"token":"'* ]] || fail "unexpected answer from /api/token: $answer"
echo "token from the service: ${answer:0:60}…"
# Another container on the project's network calls the emulator by its
# service name, which compose.yaml allows (the probe sends Host: emulator:10780).
docker run --rm --network "${project}_default" "acsidentity-emulator:$ACS_IMAGE_TAG" health -addr emulator:10780 ||
  fail "another container cannot reach the emulator as emulator:10780"
echo "reached as emulator:10780 from another container on the network"
conn="endpoint=http://127.0.0.1:$ACS_EMULATOR_PORT/;accesskey=$(sed -n 's/.*accesskey=\([^"]*\)".*/\1/p' "$root/compose.yaml" | head -n1)"
made="$(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node persist.mjs create)"
user="$(sed 's/.*"user":"\([^"]*\)".*/\1/' <<<"$made")"
token="$(sed 's/.*"token":"\([^"]*\)".*/\1/' <<<"$made")"
[[ "$user" == 8:acs:* && -n "$token" ]] || fail "persist.mjs create printed $made"

step "down, then up -d: the state is kept"
"${dc[@]}" down 2>&1 | sed 's/^/  /'
[[ -z "$("${dc[@]}" ps -q)" ]] || fail "containers left after down"
up
(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node persist.mjs check "$user" "$token")

step "down -v, once"
"${dc[@]}" down -v 2>&1 | sed 's/^/  /'
[[ ${PIPESTATUS[0]} == 0 ]] || fail "down -v failed"
left="$(docker ps -aq --filter "label=com.docker.compose.project=$project")"
[[ -z "$left" ]] || fail "containers left after down -v: $left"
left="$(docker volume ls -q --filter "label=com.docker.compose.project=$project")"
[[ -z "$left" ]] || fail "volumes left after down -v: $left"
left="$(docker network ls -q --filter "label=com.docker.compose.project=$project")"
[[ -z "$left" ]] || fail "networks left after down -v: $left"
echo "compose: all passed in $SECONDS s"
