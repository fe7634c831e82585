#!/usr/bin/env bash
# Make this Debian 12 machine (as root) ready for the container tier and the demo:
# a Docker engine, docker-compose 1.29 and compose v2, and a local base image when no registry can be reached.
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

# Compose v2 (`docker compose`, what Docker's install script gives a Pi, and what the docs
# show) beside Debian 12's docker-compose 1.29: Debian 13's package of it, a static binary,
# pinned and checked, installed as a CLI plugin for Debian 12's docker.io.
COMPOSE_V2_DEB=pool/main/d/docker-compose/docker-compose_2.26.1-4_amd64.deb
COMPOSE_V2_SHA256=47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea
if ! $DOCKER compose version >/dev/null 2>&1 && [ "$(dpkg --print-architecture)" = amd64 ]; then
  command -v curl >/dev/null || { apt-get update -q; apt-get install -y -q curl; }
  deb="$(mktemp --suffix=.deb)"
  curl -fsSL -o "$deb" "http://deb.debian.org/debian/$COMPOSE_V2_DEB"
  echo "$COMPOSE_V2_SHA256  $deb" | sha256sum -c --quiet
  unpacked="$(mktemp -d)"
  dpkg-deb -x "$deb" "$unpacked"
  install -D -m 0755 "$unpacked/usr/libexec/docker/cli-plugins/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$deb" "$unpacked"
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
