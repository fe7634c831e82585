#!/usr/bin/env bash
# Make this Debian 12 machine (as root) ready for the container tier and the demo:
# a Docker engine, docker-compose, and a local base image when no registry can be reached.
#
# The Dockerfiles take their base as a build ARG. Where `python:3.12-slim` and
# `debian:bookworm-slim` can be pulled, nothing more is needed. Where no registry is
# reachable (as on our CI machines), a stand-in base with python3 and python3-venv is
# made from Debian's packages with debootstrap and imported as $CSU_LOCAL_BASE.
set -euo pipefail

CSU_LOCAL_BASE="${CSU_LOCAL_BASE:-csu-local/debian-python:bookworm}"
export DEBIAN_FRONTEND=noninteractive
DOCKER=/usr/bin/docker   # Debian's client: the classic builder and BuildKit both work

need=()
[ -x /usr/bin/docker ] || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi

if ! $DOCKER info >/dev/null 2>&1; then
  echo "starting dockerd" >&2
  (dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    $DOCKER info >/dev/null 2>&1 && break
    sleep 1
  done
  $DOCKER info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/dockerd.log" >&2; exit 1; }
fi

if ! $DOCKER image inspect "$CSU_LOCAL_BASE" >/dev/null 2>&1; then
  if $DOCKER pull -q python:3.12-slim >/dev/null 2>&1; then
    $DOCKER tag python:3.12-slim "$CSU_LOCAL_BASE"
  else
    echo "no registry reachable: building $CSU_LOCAL_BASE with debootstrap (about a minute)" >&2
    command -v debootstrap >/dev/null || { apt-get update -q; apt-get install -y -q debootstrap; }
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" >/tmp/debootstrap.log 2>&1 \
      || { echo "debootstrap failed; see /tmp/debootstrap.log" >&2; exit 1; }
    tar -C "$rootfs" -c . | $DOCKER import - "$CSU_LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
  fi
fi
echo "docker ready; base image: $CSU_LOCAL_BASE"
