#!/usr/bin/env bash
# The container test (.ci/run runs it): builds both images with podman and
# runs them as a user would.
#
#  1. The images: a non-root numeric user, the OCI labels, the emulator's
#     HEALTHCHECK, and nothing in them but the binary, LICENSE, /tmp and
#     /data (no shell).
#  2. The emulator with -tls and -data on a bind-mounted directory, through
#     a published port: its HEALTHCHECK passes, the official JS SDK suite
#     (interop/js) passes over https with the certificate it wrote to the
#     volume, and an identity and a token are made.
#  3. A second emulator on the same directory is refused (the data file's
#     lock holds across containers); the first stops cleanly on SIGTERM.
#  4. A new emulator container on the same directory, configured by
#     environment variables only, as a GitHub Actions service container
#     is, its certificate taken out with podman cp: the identity is there
#     and the earlier token still valid.
#  5. The trusted service in the emulator's network namespace, pointed at
#     it over https (that certificate in SSL_CERT_FILE): GET / answers,
#     and curl gets a token that the emulator reports valid. Without
#     caller authentication against a resource it refuses to start.
#
# Everything it starts is named acsidentity-test-<pid>-<random> and is
# stopped and removed on exit, whatever happens, with the images it built.
#
# podman runs with --runtime runc and explicit ulimits: on the CI machines
# crun's defaults are refused ("error setting rlimit type 7: operation not
# permitted"), and runc with nofile and nproc limits that the machine
# grants starts fine. Without systemd, podman cannot schedule health
# checks (it logs "unable to get systemd connection"); this test runs them
# itself with `podman healthcheck run`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
id="acsidentity-test-$$-$RANDOM"
tag="$id"
emulator_image="localhost/acsidentity-emulator:$tag"
service_image="localhost/acsidentity-trusted-service:$tag"
work="$(mktemp -d)"
containers=()

podman_run=(podman run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

cleanup() {
  local i
  # Newest first: a container that joined another's network namespace
  # must go before it.
  for ((i = ${#containers[@]} - 1; i >= 0; i--)); do
    podman rm --force --time 5 "${containers[i]}" >/dev/null 2>&1 || true
  done
  podman rmi --force "$emulator_image" "$service_image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "images/test.sh: $*" >&2; exit 1; }
step() { echo "== images: $*"; }

# start NAME ARGS...: podman run -d, remembered for the cleanup.
start() {
  local name="$1"; shift
  containers+=("$name")
  "${podman_run[@]}" -d --name "$name" "$@" >/dev/null 2> >(grep -v 'unable to get systemd connection' >&2)
}

# healthy NAME: runs the image's HEALTHCHECK until it passes (30 s at most).
healthy() {
  local i
  for ((i = 0; i < 60; i++)); do
    if podman healthcheck run "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  podman logs "$1" >&2 || true
  fail "$1 did not become healthy"
}

# connection NAME PORT: the connection string the emulator printed, with
# the published port in place of the container's.
connection() {
  local line
  line="$(podman logs "$1" 2>/dev/null | grep -m1 '^endpoint=')" || fail "$1 printed no connection string"
  echo "${line/:10780\//:$2/}"
}

# published NAME PORT: the host port that the container's PORT is published on.
published() { podman port "$1" "$2" | head -n1 | sed 's/.*://'; }

step "build (scripts/images.sh)"
start_build=$SECONDS
ENGINE=podman TAG="$tag" "$root/scripts/images.sh"
echo "built in $((SECONDS - start_build)) s"

step "image contents and configuration"
for image in "$emulator_image" "$service_image"; do
  user="$(podman image inspect --format '{{.Config.User}}' "$image")"
  [[ "$user" == 65532:65532 ]] || fail "$image runs as '$user', not the non-root 65532:65532"
  for label in source version revision licenses; do
    value="$(podman image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$label\"}}" "$image")"
    [[ -n "$value" && "$value" != "<no value>" ]] || fail "$image has no org.opencontainers.image.$label label"
  done
  ctr="$id-contents"
  containers+=("$ctr")
  podman create --name "$ctr" "$image" >/dev/null 2>&1
  files="$(podman export "$ctr" | tar -t | sed 's|/$||' | sort | tr '\n' ' ')"
  podman rm "$ctr" >/dev/null 2>&1
  case "$image" in
    "$emulator_image") want="LICENSE acsidentity-emulator data tmp " ;;
    *) want="LICENSE tmp trusted-service " ;;
  esac
  [[ "$files" == "$want" ]] || fail "$image holds '$files', want '$want'"
  echo "$image: user $user, labels, files: $files"
done
healthcheck="$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$emulator_image")"
[[ "$healthcheck" == '["CMD","/acsidentity-emulator","health"]' ]] || fail "emulator HEALTHCHECK is $healthcheck"

if [[ ! -d "$root/interop/js/node_modules" ]]; then
  (cd "$root/interop/js" && npm ci --no-audit --no-fund)
fi

# The bind-mounted data directory belongs to the image's user.
data="$work/data"
mkdir "$data"
if [[ "$(id -u)" == 0 ]]; then chown 65532:65532 "$data"; else podman unshare chown 65532:65532 "$data"; fi
emulator_args=(-tls -cert-out /data/emulator.crt -data /data/emulator.json -allow-bearer)

step "emulator container, -tls and -data on a bind mount"
emu1="$id-emulator-1"
start "$emu1" -p 127.0.0.1::10780 -v "$data:/data" "$emulator_image" "${emulator_args[@]}"
healthy "$emu1"
port="$(published "$emu1" 10780)"
conn="$(connection "$emu1" "$port")"
[[ "$conn" == "endpoint=https://127.0.0.1:$port/;accesskey="* ]] || fail "unexpected connection string ${conn%%;*}"
export NODE_EXTRA_CA_CERTS="$data/emulator.crt"

step "official JS SDK suite through the published port (https)"
(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node --test test.mjs)
made="$(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node persist.mjs create)"
user="$(sed 's/.*"user":"\([^"]*\)".*/\1/' <<<"$made")"
token="$(sed 's/.*"token":"\([^"]*\)".*/\1/' <<<"$made")"
[[ "$user" == 8:acs:* && -n "$token" ]] || fail "persist.mjs create printed $made"

step "a second emulator on the same data file is refused"
second="$id-emulator-locked"
containers+=("$second")
if out="$("${podman_run[@]}" --name "$second" -v "$data:/data" "$emulator_image" "${emulator_args[@]}" 2>&1)"; then
  fail "a second emulator started on the same data file: $out"
fi
grep -q "in use by another emulator" <<<"$out" || fail "the second emulator failed for another reason: $out"
echo "refused: $(grep -m1 'in use' <<<"$out")"

step "stop (SIGTERM), then a new container on the same volume, configured by environment"
podman stop --time 20 "$emu1" >/dev/null 2>&1
code="$(podman inspect --format '{{.State.ExitCode}}' "$emu1")"
[[ "$code" == 0 ]] || { podman logs "$emu1" >&2; fail "the emulator exited $code on SIGTERM"; }
emu2="$id-emulator-2"
# It also publishes the trusted service's port: the service joins its
# network namespace below.
start "$emu2" -p 127.0.0.1::10780 -p 127.0.0.1::8080 -v "$data:/data" \
  -e ACSIDENTITY_EMULATOR_TLS=true -e ACSIDENTITY_EMULATOR_DATA=/data/emulator.json \
  -e ACSIDENTITY_EMULATOR_ALLOW_BEARER=true "$emulator_image"
healthy "$emu2"
port="$(published "$emu2" 10780)"
conn="$(connection "$emu2" "$port")"
[[ "$conn" == "endpoint=https://"* ]] || fail "ACSIDENTITY_EMULATOR_TLS=true did not turn on TLS: ${conn%%;*}"
# The certificate where -cert-out puts it by default, as the README's
# GitHub Actions recipe takes it (docker cp).
podman cp "$emu2:/tmp/acsidentity-emulator.crt" "$work/emulator.crt"
export NODE_EXTRA_CA_CERTS="$work/emulator.crt"
(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node persist.mjs check "$user" "$token")

step "the trusted service refuses a resource without caller authentication"
refused="$id-service-refused"
containers+=("$refused")
key="${conn##*accesskey=}"
set +e
out="$(timeout 60 "${podman_run[@]}" --name "$refused" \
  -e COMMUNICATION_SERVICES_CONNECTION_STRING="endpoint=https://127.0.0.1:10780/;accesskey=$key" \
  "$service_image" 2>&1)"
code=$?
set -e
[[ $code != 0 && $code != 124 ]] || fail "the service started (exit $code) with no caller authentication: $out"
echo "refused to start (exit $code): $(tail -n1 <<<"$out" | cut -c1-160)"

step "trusted service container pointed at the emulator container"
svc="$id-service"
start "$svc" --network "container:$emu2" -v "$work/emulator.crt:/etc/acs-emulator.crt:ro" \
  -e COMMUNICATION_SERVICES_CONNECTION_STRING="endpoint=https://127.0.0.1:10780/;accesskey=$key" \
  -e SSL_CERT_FILE=/etc/acs-emulator.crt \
  -e TRUSTED_SERVICE_ALLOW_ANONYMOUS=true \
  "$service_image"
svc_port="$(published "$emu2" 8080)"
for ((i = 0; i < 60; i++)); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$svc_port/"; then break; fi
  sleep 0.5
done
curl -fsS -o /dev/null "http://127.0.0.1:$svc_port/" || { podman logs "$svc" >&2; fail "the service does not answer GET /"; }
answer="$(curl -fsS "http://127.0.0.1:$svc_port/api/token?scopes=chat,voip")" || { podman logs "$svc" >&2; fail "GET /api/token failed"; }
svc_user="$(sed -n 's/.*"communicationUserId":"\([^"]*\)".*/\1/p' <<<"$answer")"
svc_token="$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$answer")"
[[ "$svc_user" == 8:acs:* && -n "$svc_token" ]] || fail "unexpected answer from /api/token: $answer"
status="$(curl -fsS --cacert "$work/emulator.crt" -H 'content-type: application/json' \
  -d "{\"token\":\"$svc_token\"}" "https://127.0.0.1:$port/.emulator/introspect")"
[[ "$status" == *'"status":"valid"'* ]] || fail "the emulator container does not know the service's token: $status"
echo "token for $svc_user from the service container; the emulator container reports it valid"

step "stop"
podman stop --time 20 "$svc" "$emu2" >/dev/null 2>&1
for c in "$svc" "$emu2"; do
  code="$(podman inspect --format '{{.State.ExitCode}}' "$c")"
  [[ "$code" == 0 ]] || { podman logs "$c" >&2; fail "$c exited $code on SIGTERM"; }
done
echo "images: all passed in $SECONDS s"
