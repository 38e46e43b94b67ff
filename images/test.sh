#!/usr/bin/env bash
# The container test (.ci/run runs it once with podman and once with
# Docker): builds both images with ENGINE (podman or docker, default
# podman) and runs them as a user would.
#
#  1. The images: a non-root numeric user, the OCI labels, the emulator's
#     HEALTHCHECK, and nothing in them but the binary, LICENSE, /tmp and
#     /data (no shell).
#  2. The emulator with -tls and -data on a bind-mounted directory, through
#     a published port: its HEALTHCHECK passes, a request addressed to
#     another site's name (Host: evil.example, what a DNS-rebinding page
#     sends) is refused even when signed while loopback is answered, the
#     official JS SDK suite (interop/js) passes over https with the
#     certificate it wrote to the volume, and an identity and a token are
#     made.
#  3. A second emulator on the same directory is refused (the data file's
#     lock holds across containers); the first stops cleanly on SIGTERM.
#  4. A new emulator container on the same directory, configured by
#     environment variables only, as a GitHub Actions service container
#     is, its certificate taken out with `ENGINE cp`: the identity is there
#     and the earlier token still valid.
#  5. The emulator moved to another port, by -addr and by
#     ACSIDENTITY_EMULATOR_ADDR: its HEALTHCHECK still passes.
#  6. The trusted service in the emulator's network namespace, pointed at
#     it over https (that certificate in SSL_CERT_FILE): GET / answers,
#     and curl gets a token that the emulator reports valid. Without
#     caller authentication against a resource it refuses to start.
#
# Everything it starts is named acsidentity-test-<pid>-<random> and is
# stopped and removed on exit, whatever happens, with the images it built.
# Docker is used through DOCKER_HOST (.ci/run starts a daemon of its own
# with images/dockerd.sh).
#
# Every container runs with --ulimit nofile=1024:1024 --ulimit
# nproc=4096:4096, and podman's with --runtime runc: on the CI machines
# crun's defaults are refused ("error setting rlimit type 7: operation not
# permitted"), and runc with nofile and nproc limits that the machine
# grants starts fine. Without systemd, podman cannot schedule health
# checks (it logs "unable to get systemd connection"); this test runs them
# itself with `podman healthcheck run`. Docker schedules them itself; the
# test waits for `docker inspect` to report the container healthy.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
engine="${ENGINE:-podman}"
case "$engine" in
  podman) image_prefix=localhost/ ;;
  docker) image_prefix= ;;
  *) echo "images/test.sh: ENGINE is '$engine', want podman or docker" >&2; exit 2 ;;
esac
command -v "$engine" >/dev/null || { echo "images/test.sh: $engine is not installed" >&2; exit 1; }
id="acsidentity-test-$$-$RANDOM"
tag="$id"
emulator_image="${image_prefix}acsidentity-emulator:$tag"
service_image="${image_prefix}acsidentity-trusted-service:$tag"
work="$(mktemp -d)"
containers=()

engine_run=("$engine" run --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
[[ "$engine" == podman ]] && engine_run+=(--runtime runc)

cleanup() {
  local i
  # Newest first: a container that joined another's network namespace
  # must go before it.
  for ((i = ${#containers[@]} - 1; i >= 0; i--)); do
    "$engine" rm --force "${containers[i]}" >/dev/null 2>&1 || true
  done
  "$engine" rmi --force "$emulator_image" "$service_image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "images/test.sh ($engine): $*" >&2; exit 1; }
step() { echo "== images ($engine): $*"; }

# start NAME ARGS...: ENGINE run -d, remembered for the cleanup.
start() {
  local name="$1"; shift
  containers+=("$name")
  "${engine_run[@]}" -d --name "$name" "$@" >/dev/null 2> >(grep -v 'unable to get systemd connection' >&2)
}

# healthy NAME: waits until the image's HEALTHCHECK passes (60 s at most):
# podman's is run here, Docker's by the daemon.
healthy() {
  local i status
  for ((i = 0; i < 120; i++)); do
    if [[ "$engine" == podman ]]; then
      podman healthcheck run "$1" >/dev/null 2>&1 && return 0
    else
      status="$(docker inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null)"
      [[ "$status" == healthy ]] && return 0
    fi
    sleep 0.5
  done
  "$engine" logs "$1" >&2 || true
  [[ "$engine" == docker ]] && docker inspect --format '{{json .State.Health}}' "$1" >&2
  fail "$1 did not become healthy"
}

# connection NAME PORT: the connection string the emulator printed, with
# the published port in place of the container's.
connection() {
  local line
  line="$("$engine" logs "$1" 2>/dev/null | grep -m1 '^endpoint=')" || fail "$1 printed no connection string"
  echo "${line/:10780\//:$2/}"
}

# published NAME PORT: the host port that the container's PORT is published on.
published() { "$engine" port "$1" "$2" | head -n1 | sed 's/.*://'; }

# signed_create URL HOST CAFILE KEY: the HTTP status of a create signed
# with KEY, sent to URL with HOST in the Host header (and signed with it,
# as a page that rebinds its name would sign it).
signed_create() {
  local url="$1" host="$2" ca="$3" key="$4" path='/identities?api-version=2023-10-01' body='{}'
  local date hash keyhex sig
  date="$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')"
  hash="$(printf %s "$body" | openssl dgst -sha256 -binary | base64 -w0)"
  keyhex="$(printf %s "$key" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
  sig="$(printf 'POST\n%s\n%s;%s;%s' "$path" "$date" "$host" "$hash" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$keyhex" -binary | base64 -w0)"
  curl -s -o "$work/signed.out" -w '%{http_code}' --cacert "$ca" -H "Host: $host" \
    -H "x-ms-date: $date" -H "x-ms-content-sha256: $hash" -H 'content-type: application/json' \
    -H "Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=$sig" \
    -d "$body" "$url$path"
}

step "build (scripts/images.sh)"
start_build=$SECONDS
ENGINE="$engine" TAG="$tag" "$root/scripts/images.sh"
echo "built in $((SECONDS - start_build)) s"

step "image contents and configuration"
# What Docker adds to every container it creates (mount points and the
# files it bind-mounts), not part of the image.
engine_made='\.dockerenv|dev|dev/console|dev/pts|dev/shm|etc|etc/hostname|etc/hosts|etc/mtab|etc/resolv\.conf|proc|sys'

for image in "$emulator_image" "$service_image"; do
  user="$("$engine" image inspect --format '{{.Config.User}}' "$image")"
  [[ "$user" == 65532:65532 ]] || fail "$image runs as '$user', not the non-root 65532:65532"
  for label in source version revision licenses; do
    value="$("$engine" image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$label\"}}" "$image")"
    [[ -n "$value" && "$value" != "<no value>" ]] || fail "$image has no org.opencontainers.image.$label label"
  done
  ctr="$id-contents"
  containers+=("$ctr")
  "$engine" create --name "$ctr" "$image" >/dev/null 2>&1
  files="$("$engine" export "$ctr" | tar -t | sed 's|/$||' | grep -vxE "$engine_made" | sort | tr '\n' ' ')"
  "$engine" rm "$ctr" >/dev/null 2>&1
  case "$image" in
    "$emulator_image") want="LICENSE acsidentity-emulator data tmp " ;;
    *) want="LICENSE tmp trusted-service " ;;
  esac
  [[ "$files" == "$want" ]] || fail "$image holds '$files', want '$want'"
  echo "$image: user $user, labels, files: $files"
done
# The version label: the tag git describe finds, or "dev" where there is
# none (the revision label holds the commit either way).
want_version="$(cd "$root" && git describe --tags --dirty 2>/dev/null || echo dev)"
version="$("$engine" image inspect --format '{{index .Config.Labels "org.opencontainers.image.version"}}' "$emulator_image")"
[[ "$version" == "$want_version" ]] || fail "version label '$version', want '$want_version'"
healthcheck="$("$engine" image inspect --format '{{json .Config.Healthcheck.Test}}' "$emulator_image")"
[[ "$healthcheck" == '["CMD","/acsidentity-emulator","health"]' ]] || fail "emulator HEALTHCHECK is $healthcheck"

if [[ ! -d "$root/interop/js/node_modules" ]]; then
  (cd "$root/interop/js" && npm ci --no-audit --no-fund)
fi

# The bind-mounted data directory belongs to the image's user.
data="$work/data"
mkdir "$data"
if [[ "$(id -u)" == 0 ]]; then chown 65532:65532 "$data"
elif [[ "$engine" == podman ]]; then podman unshare chown 65532:65532 "$data"
else chmod 0777 "$data"; fi
emulator_args=(-tls -cert-out /data/emulator.crt -data /data/emulator.json -allow-bearer)

step "emulator container, -tls and -data on a bind mount"
emu1="$id-emulator-1"
start "$emu1" -p 127.0.0.1::10780 -v "$data:/data" "$emulator_image" "${emulator_args[@]}"
healthy "$emu1"
port="$(published "$emu1" 10780)"
conn="$(connection "$emu1" "$port")"
[[ "$conn" == "endpoint=https://127.0.0.1:$port/;accesskey="* ]] || fail "unexpected connection string ${conn%%;*}"
export NODE_EXTRA_CA_CERTS="$data/emulator.crt"

step "Host check through the published port"
key="${conn##*accesskey=}"
base="https://127.0.0.1:$port"
for host in "evil.example:$port" evil.example "localhost.evil.example:$port"; do
  code="$(signed_create "$base" "$host" "$data/emulator.crt" "$key")"
  [[ "$code" == 403 ]] && grep -q HostNotAllowed "$work/signed.out" || fail "a signed create with Host: $host answered $code: $(cat "$work/signed.out")"
  code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/emulator.crt" -H "Host: $host" "$base/.emulator/health")"
  [[ "$code" == 403 ]] || fail "GET /.emulator/health with Host: $host answered $code"
done
for host in "127.0.0.1:$port" "localhost:$port" "[::1]:$port"; do
  code="$(signed_create "$base" "$host" "$data/emulator.crt" "$key")"
  [[ "$code" == 201 ]] || fail "a signed create with Host: $host answered $code: $(cat "$work/signed.out")"
done
echo "Host: evil.example refused (403 HostNotAllowed), loopback names answered (201)"

step "official JS SDK suite through the published port (https)"
(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node --test test.mjs)
made="$(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node persist.mjs create)"
user="$(sed 's/.*"user":"\([^"]*\)".*/\1/' <<<"$made")"
token="$(sed 's/.*"token":"\([^"]*\)".*/\1/' <<<"$made")"
[[ "$user" == 8:acs:* && -n "$token" ]] || fail "persist.mjs create printed $made"

step "a second emulator on the same data file is refused"
second="$id-emulator-locked"
containers+=("$second")
if out="$("${engine_run[@]}" --name "$second" -v "$data:/data" "$emulator_image" "${emulator_args[@]}" 2>&1)"; then
  fail "a second emulator started on the same data file: $out"
fi
grep -q "in use by another emulator" <<<"$out" || fail "the second emulator failed for another reason: $out"
echo "refused: $(grep -m1 'in use' <<<"$out")"

step "stop (SIGTERM), then a new container on the same volume, configured by environment"
"$engine" stop --time 20 "$emu1" >/dev/null 2>&1
code="$("$engine" inspect --format '{{.State.ExitCode}}' "$emu1")"
[[ "$code" == 0 ]] || { "$engine" logs "$emu1" >&2; fail "the emulator exited $code on SIGTERM"; }
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
"$engine" cp "$emu2:/tmp/acsidentity-emulator.crt" "$work/emulator.crt"
export NODE_EXTRA_CA_CERTS="$work/emulator.crt"
(cd "$root/interop/js" && ACS_CONNECTION_STRING="$conn" node persist.mjs check "$user" "$token")

step "health follows the address: -addr :20780, and ACSIDENTITY_EMULATOR_ADDR=:20781"
moved="$id-emulator-moved"
start "$moved" -p 127.0.0.1::20780 "$emulator_image" -addr :20780
healthy "$moved"
moved_port="$(published "$moved" 20780)"
curl -fsS -o /dev/null "http://127.0.0.1:$moved_port/.emulator/health" || fail "the moved emulator does not answer on its published port"
moved_env="$id-emulator-moved-env"
start "$moved_env" -p 127.0.0.1::20781 -e ACSIDENTITY_EMULATOR_ADDR=:20781 "$emulator_image"
healthy "$moved_env"
echo "healthy on :20780 (flag) and :20781 (environment)"
"$engine" rm --force "$moved" "$moved_env" >/dev/null 2>&1

step "the trusted service refuses a real resource without caller authentication"
# A resource that is not on loopback: an emulator on loopback lets
# anonymous callers in by default, a real resource must not. Nothing is
# sent to it: the refusal comes first.
refused="$id-service-refused"
containers+=("$refused")
set +e
out="$(timeout 60 "${engine_run[@]}" --name "$refused" \
  -e COMMUNICATION_SERVICES_CONNECTION_STRING="endpoint=https://contoso.communication.azure.com/;accesskey=$key" \
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
  if curl -fs -o /dev/null "http://127.0.0.1:$svc_port/"; then break; fi
  sleep 0.5
done
curl -fsS -o /dev/null "http://127.0.0.1:$svc_port/" || { "$engine" logs "$svc" >&2; fail "the service does not answer GET /"; }
answer="$(curl -fsS "http://127.0.0.1:$svc_port/api/token?scopes=chat,voip")" || { "$engine" logs "$svc" >&2; fail "GET /api/token failed"; }
svc_user="$(sed -n 's/.*"communicationUserId":"\([^"]*\)".*/\1/p' <<<"$answer")"
svc_token="$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$answer")"
[[ "$svc_user" == 8:acs:* && -n "$svc_token" ]] || fail "unexpected answer from /api/token: $answer"
status="$(curl -fsS --cacert "$work/emulator.crt" -H 'content-type: application/json' \
  -d "{\"token\":\"$svc_token\"}" "https://127.0.0.1:$port/.emulator/introspect")"
[[ "$status" == *'"status":"valid"'* ]] || fail "the emulator container does not know the service's token: $status"
echo "token for $svc_user from the service container; the emulator container reports it valid"

step "stop"
"$engine" stop --time 20 "$svc" "$emu2" >/dev/null 2>&1
for c in "$svc" "$emu2"; do
  code="$("$engine" inspect --format '{{.State.ExitCode}}' "$c")"
  [[ "$code" == 0 ]] || { "$engine" logs "$c" >&2; fail "$c exited $code on SIGTERM"; }
done
echo "images ($engine): all passed in $SECONDS s"
