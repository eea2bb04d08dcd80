#!/usr/bin/env bash
# Local stand-ins for the stack's base images, for machines where no image registry answers:
#   spartakus-local/debian:bookworm             debootstrap --variant=minbase from the host's Debian mirror
#   spartakus-local/debian:trixie               the same for trixie (deploy/rabbitmq4.sh rootfs, shared with the tests)
#   spartakus-local/python:3.11                 bookworm's python3 + venv, trusting the host's CA certificates
#   spartakus-local/rabbitmq:4.0-management     trixie's rabbitmq-server (4.0.x, the major version compose deploys)
#                                               with the management plugin
# Images already present are kept (--rebuild builds them again); the debootstrap root filesystems are cached as
# tarballs in $SPARTAKUS_IMAGE_CACHE. Needs root, debootstrap and a running Docker engine. Prints the variables
# that make `docker compose build` use these images:
#
#   eval "$(deploy/local-images/build.sh)"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SPARTAKUS_IMAGE_CACHE:-/var/cache/spartakus}"
debian=spartakus-local/debian:bookworm
trixie=spartakus-local/debian:trixie
python=spartakus-local/python:3.11
rabbitmq=spartakus-local/rabbitmq:4.0-management
rebuild=false
[ "${1:-}" = "--rebuild" ] && rebuild=true

log() { echo "local-images: $*" >&2; }
present() { [ "$rebuild" = false ] && docker image inspect "$1" >/dev/null 2>&1; }

# The mirror apt already uses here (deb822 or one-line sources), else Debian's own.
mirror() {
  local found
  found="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* \
    | grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ')" || true
  echo "${found:-http://deb.debian.org/debian}"
}

build_debian() {
  present "$debian" && { log "$debian present"; return; }
  local tarball="$cache/debian-bookworm-minbase.tar"
  if [ ! -s "$tarball" ] || [ "$rebuild" = true ]; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
    local rootfs
    rootfs="$(mktemp -d)"
    log "debootstrap bookworm from $(mirror) (about a minute)"
    debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)" >"$rootfs.log" 2>&1 \
      || { tail -n 20 "$rootfs.log" >&2; exit 1; }
    # As Debian's slim images: no package cache or lists, no documentation, now or from later installs.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
      >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
    mkdir -p "$cache"
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs" "$rootfs.log"
  fi
  log "importing $tarball as $debian"
  docker import - "$debian" <"$tarball" >/dev/null
}

# Trixie's minbase root filesystem, cached by deploy/rabbitmq4.sh (the tests' RabbitMQ 4 starts from it too).
build_trixie() {
  present "$trixie" && { log "$trixie present"; return; }
  local tarball
  tarball="$(SPARTAKUS_RABBITMQ4_CACHE="$cache" "$here/../rabbitmq4.sh" rootfs)"
  log "importing $tarball as $trixie"
  docker import - "$trixie" <"$tarball" >/dev/null
}

# Builds with the host's network: an engine started with --ip-forward=false gives containers no route out.
build_image() {
  local tag="$1" dockerfile="$2" context="$3" base="$4"
  present "$tag" && { log "$tag present"; return; }
  log "building $tag"
  DOCKER_BUILDKIT=0 docker build -q --network=host --build-arg "DEBIAN_IMAGE=$base" \
    -t "$tag" -f "$dockerfile" "$context" >/dev/null
}

build_debian
build_trixie
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/ca-certificates"
# The host's own CAs (a TLS-intercepting proxy's among them); none is fine too.
cp /usr/local/share/ca-certificates/*.crt "$context/ca-certificates/" 2>/dev/null || true
build_image "$python" "$here/python.Dockerfile" "$context" "$debian"
cp "$here/rabbitmq.conf" "$context/"
build_image "$rabbitmq" "$here/rabbitmq.Dockerfile" "$context" "$trixie"
echo "export PYTHON_IMAGE=$python RABBITMQ_IMAGE=$rabbitmq"
