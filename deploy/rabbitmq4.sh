#!/usr/bin/env bash
# RabbitMQ 4.x for the tests, on a machine whose own broker is Debian bookworm's 3.10: Debian trixie's
# rabbitmq-server (4.0.5, Erlang/OTP 27) in a debootstrapped folder, run with chroot as a node of its own.
#
#   deploy/rabbitmq4.sh rootfs          the trixie minbase root filesystem as a cached tarball; prints its path
#   deploy/rabbitmq4.sh prepare         the root with rabbitmq-server installed, /proc mounted; prints its path
#   deploy/rabbitmq4.sh start NAME      start node NAME@localhost on free ports; prints the variables that point
#                                       the tests at it: SPARTAKUS_TEST_AMQP_URL, SPARTAKUS_TEST_RABBITMQCTL,
#                                       SPARTAKUS_TEST_RABBITMQ_ROOT
#   deploy/rabbitmq4.sh ctl NAME ARGS   rabbitmqctl -n NAME@localhost ARGS, with the node's cookie and epmd port
#   deploy/rabbitmq4.sh stop NAME       stop the node and its epmd, and remove its data
#   deploy/rabbitmq4.sh run NAME CMD... start node NAME, run CMD with those variables, stop the node; CMD's status
#
#   eval "$(deploy/rabbitmq4.sh start "${SPARTAKUS_TEST_NODE_PREFIX:-spartakus-test}-rmq4")"
#
# Everything is cached in $SPARTAKUS_RABBITMQ4_CACHE (/var/cache/spartakus): the first `prepare` takes about a
# minute (debootstrap, then apt-get inside), later ones nothing. Needs root (debootstrap, chroot, mount). A node
# never uses 5672, 25672 or epmd's 4369, which belong to the machine's own broker: it has its own ports and epmd.
set -euo pipefail
cache="${SPARTAKUS_RABBITMQ4_CACHE:-/var/cache/spartakus}"
root="$cache/rabbitmq4-trixie"
tarball="$cache/debian-trixie-minbase.tar"
nodes="/var/lib/spartakus-nodes"
path=/usr/sbin:/usr/bin:/sbin:/bin
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

log() { echo "rabbitmq4: $*" >&2; }
fail() { log "$*"; exit 1; }

# The mirror apt already uses here (deb822 or one-line sources), else Debian's own.
mirror() {
  local found
  found="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* \
    | grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ')" || true
  echo "${found:-http://deb.debian.org/debian}"
}

rootfs() {
  [ -s "$tarball" ] && return
  [ "$(id -u)" = 0 ] || fail "debootstrap needs root"
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap) >/dev/null
  }
  local tmp
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/trixie.XXXXXX")"
  log "debootstrap trixie from $(mirror) (about a minute)"
  debootstrap --variant=minbase trixie "$tmp" "$(mirror)" >"$tmp.log" 2>&1 || { tail -n 20 "$tmp.log" >&2; exit 1; }
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
  tar -C "$tmp" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$tmp" "$tmp.log"
}

install_rabbitmq() {
  [ -x "$root/usr/lib/rabbitmq/bin/rabbitmq-server" ] && return
  rootfs
  log "installing trixie's rabbitmq-server into $root"
  rm -rf "$root.tmp" && mkdir -p "$root.tmp" && chmod 755 "$root.tmp"  # the node runs as the root's rabbitmq user
  tar -C "$root.tmp" -xf "$tarball"
  chmod 755 "$root.tmp"  # the tarball's top folder came from mktemp (0700): the rabbitmq user must reach into /
  cp /etc/hosts /etc/resolv.conf "$root.tmp/etc/"
  # No init system: keep the package's maintainer scripts from starting a node of their own.
  printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d" && chmod +x "$root.tmp/usr/sbin/policy-rc.d"
  mount -t proc proc "$root.tmp/proc"
  chroot "$root.tmp" env -i PATH=$path DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends rabbitmq-server' >"$root.log" 2>&1 \
    || { umount "$root.tmp/proc"; tail -n 20 "$root.log" >&2; exit 1; }
  umount "$root.tmp/proc"
  rm -rf "$root.tmp"/var/cache/apt/archives/*.deb
  mkdir -p "$root.tmp$nodes" && chmod 1777 "$root.tmp$nodes"
  mv "$root.tmp" "$root"
}

prepare() {
  # One preparer at a time: tests started side by side share the cache.
  mkdir -p "$cache"
  exec 9>"$cache/.rabbitmq4.lock"
  flock 9
  install_rabbitmq
  chmod 755 "$root"  # a folder prepared by an earlier version of this script may be 0700
  # Erlang reads /proc; the folder keeps the mount until the machine restarts (`umount $root/proc` to remove it).
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  flock -u 9
}

free_port() {
  python3 - <<'EOF'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    port = random.randrange(max(1024, low - 10000), low)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
EOF
}

# The environment of node NAME inside the root, one VAR=value a line, from its saved ports.
node_env() {
  local name="$1" dir="$nodes/$1"
  # shellcheck disable=SC1090  # written by `start`
  . "$root$dir/ports"
  printf '%s\n' "PATH=$path" "HOME=$dir" "LANG=C.UTF-8" "RABBITMQ_NODENAME=$name@localhost" \
    "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1" "RABBITMQ_NODE_PORT=$amqp_port" "RABBITMQ_DIST_PORT=$dist_port" \
    "ERL_EPMD_PORT=$epmd_port" "RABBITMQ_MNESIA_BASE=$dir/mnesia" "RABBITMQ_LOG_BASE=$dir/log" \
    "RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf" "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins" \
    "RABBITMQ_PID_FILE=$dir/node.pid"
}

in_root() {
  local name="$1"
  shift
  local env
  mapfile -t env < <(node_env "$name")
  chroot --userspec=rabbitmq:rabbitmq "$root" env -i "${env[@]}" "$@"
}

ctl() {
  local name="$1"
  shift
  in_root "$name" /usr/lib/rabbitmq/bin/rabbitmqctl -n "$name@localhost" "$@"
}

start() {
  local name="$1" dir="$root$nodes/$1"
  prepare
  [ -e "$dir" ] && fail "node $name exists already ($dir): stop it first"
  mkdir -p "$dir"
  printf 'amqp_port=%s\ndist_port=%s\nepmd_port=%s\n' "$(free_port)" "$(free_port)" "$(free_port)" >"$dir/ports"
  printf '[].\n' >"$dir/enabled_plugins"
  printf 'loopback_users.guest = true\n' >"$dir/rabbitmq.conf"
  head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/.erlang.cookie"
  chroot "$root" chown -R rabbitmq:rabbitmq "$nodes/$name"
  chmod 400 "$dir/.erlang.cookie"
  log "starting $name@localhost (log $dir/console.log)"
  # Detached from this script's output, which a caller may be reading to its end: `eval "$(... start NAME)"`.
  in_root "$name" sh -c 'exec /usr/lib/rabbitmq/bin/rabbitmq-server >"$HOME/console.log" 2>&1' </dev/null >/dev/null 2>&1 &
  local server=$! waited=0
  # await_startup needs a node that epmd knows: until it does, it fails at once.
  until ctl "$name" -q -t 120 await_startup >/dev/null 2>&1; do
    if ! kill -0 "$server" 2>/dev/null || [ "$waited" -ge 120 ]; then
      tail -n 30 "$dir/console.log" >&2
      fail "node $name did not start"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  # shellcheck disable=SC1090
  . "$dir/ports"
  echo "export SPARTAKUS_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$amqp_port/"
  echo "export SPARTAKUS_TEST_RABBITMQCTL='$self ctl $name'"
  echo "export SPARTAKUS_TEST_RABBITMQ_ROOT=$root"
}

stop() {
  local name="$1" dir="$root$nodes/$1"
  [ -e "$dir/ports" ] || return 0
  ctl "$name" -q stop >/dev/null 2>&1 || true
  # shellcheck disable=SC1090
  . "$dir/ports"
  # The node's epmd outlives it: stop the process listening on this node's epmd port, by its PID.
  local pid
  for pid in $(ss -Hltnp "sport = :$epmd_port" 2>/dev/null | grep -oE 'pid=[0-9]+' | cut -d= -f2 | sort -u); do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

run() {
  local name="$1" status=0
  shift
  local variables
  stop "$name"  # what an interrupted run with this name left
  variables="$(start "$name")" || { stop "$name"; exit 1; }
  eval "$variables"
  trap "stop '$name'" EXIT
  "$@" || status=$?
  return "$status"
}

case "${1:-}" in
  rootfs) rootfs && echo "$tarball" ;;
  prepare) prepare && echo "$root" ;;
  start) start "${2:?node name}" ;;
  ctl) ctl "${2:?node name}" "${@:3}" ;;
  stop) stop "${2:?node name}" ;;
  run) run "${2:?node name}" "${@:3}" ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
