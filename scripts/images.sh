#!/usr/bin/env bash
# Builds the two container images from this checkout, with no registry:
#
#   acsidentity-emulator:TAG          cmd/acsidentity-emulator
#   acsidentity-trusted-service:TAG   examples/trusted-service
#
# go build makes each static binary (CGO_ENABLED=0, -trimpath, GOOS=linux)
# and the container engine only copies it into an empty (FROM scratch)
# image, as ko and goreleaser do: no base image is pulled, so it builds
# offline. The Containerfiles are in images/.
#
# Usage: scripts/images.sh
# Environment (all optional):
#   ENGINE   podman or docker (default: podman if installed, else docker)
#   TAG      image tag (default: latest)
#   PREFIX   prepended to the image names, e.g. ghcr.io/you/ to push them
#   VERSION  the version label (default: `git describe --tags` when a tag
#            exists, such as v0.1.0 or v0.1.0-3-gabc1234; else "dev"; the
#            revision label always holds the full commit hash)
#   GOARCH   the architecture to build for (default: this machine's)
#
# It says what it is doing on standard error (the first go build compiles
# every dependency and takes a minute or two) and prints each image with
# its size, as the engine reports it, on standard output.
#
# With podman the images are built in the docker format, which keeps the
# emulator's HEALTHCHECK (the OCI format has no health check), without
# intermediate images (nothing to cache: each step is a COPY), and with
# the commit's time as the build time, so a commit builds to the same
# image ID every time.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ -z "${ENGINE:-}" ]]; then
  if command -v podman >/dev/null; then ENGINE=podman
  elif command -v docker >/dev/null; then ENGINE=docker
  else echo "images.sh: neither podman nor docker is installed" >&2; exit 1
  fi
fi
TAG="${TAG:-latest}"
PREFIX="${PREFIX:-}"
arch="${GOARCH:-$(go env GOARCH)}"

commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
VERSION="${VERSION:-$(git describe --tags --dirty 2>/dev/null || echo dev)}"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

say() { echo "images.sh: $*" >&2; }
say "building with $ENGINE, version $VERSION; the first go build compiles every dependency (a minute or two)"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT

build() { # build NAME PACKAGE
  local name="$1" pkg="$2" dir="$ctx/$1" image="${PREFIX}acsidentity-$1:${TAG}"
  # /tmp as usual (sticky, writable by all) and /data for the emulator's
  # volume, each the one entry of a tree copied to / (COPY of a directory
  # copies what is in it, not its mode).
  mkdir -p "$dir/tmp-root/tmp" "$dir/data-root/data"
  chmod 1777 "$dir/tmp-root/tmp"
  chmod 0755 "$dir/data-root/data"
  # -s -w drop the symbol and DWARF tables (stack traces keep their
  # function names and lines); an empty -buildid keeps the binary the
  # same from build to build.
  say "go build ./$pkg (linux/$arch)"
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
    go build -trimpath -ldflags="-s -w -buildid=" -o "$dir/$(basename "$pkg")" "./$pkg"
  cp LICENSE "$dir/LICENSE"
  # Modes are set here rather than with COPY --chmod, which docker's
  # classic builder lacks: the files keep them in the image.
  chmod 0555 "$dir/$(basename "$pkg")"
  chmod 0444 "$dir/LICENSE"
  local args=(build --file "images/$name.Containerfile" --tag "$image"
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$commit" --build-arg "CREATED=$created")
  if [[ "$ENGINE" == podman ]]; then
    args+=(--format docker --timestamp "$epoch" --arch "$arch" --layers=false)
  else
    args+=(--platform "linux/$arch")
  fi
  say "$ENGINE build $image"
  "$ENGINE" "${args[@]}" "$dir" >"$ctx/$name.log" 2>&1 || { cat "$ctx/$name.log" >&2; return 1; }
  local size
  size="$("$ENGINE" image inspect --format '{{.Size}}' "$image")"
  echo "$image $size bytes"
}

build emulator cmd/acsidentity-emulator
build trusted-service examples/trusted-service
