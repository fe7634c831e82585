#!/usr/bin/env bash
# Make this Debian 12 machine (as root) build and run the agent's ARM images under
# emulation: qemu-user-static registered with binfmt_misc, and a local Debian base image
# per ARM platform (python3 and python3-venv, made with debootstrap) where no registry is
# reachable.
#
#   bash tests/container/prepare-arm.sh [PLATFORM...]   (default: linux/arm64 linux/arm/v7)
#
# Bases: csu-local/debian-python:bookworm-arm64 (linux/arm64) and
# csu-local/debian-python:bookworm-armhf (linux/arm/v7). They are cached on the machine
# twice: as Docker images (kept until pruned) and as root filesystem archives in
# $CSU_BASE_CACHE (default /var/cache/circadian-scp-upload), from which a pruned image
# comes back in seconds instead of minutes of debootstrap. CSU_REBUILD_BASES=1 makes them
# anew (for Debian's security updates).
#
# Debian's Docker 20.10 labels `docker import --platform linux/arm64` images amd64 (and
# BuildKit then looks for them in a registry), so each base is built instead from
# `FROM scratch` + `ADD rootfs.tar /` by the classic builder with --platform, which labels
# it right.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
DOCKER=/usr/bin/docker
CACHE="${CSU_BASE_CACHE:-/var/cache/circadian-scp-upload}"
PLATFORMS=("$@")
[ ${#PLATFORMS[@]} -gt 0 ] || PLATFORMS=(linux/arm64 linux/arm/v7)

bash tests/container/prepare-docker.sh >/dev/null

need=()
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# The kernel runs foreign binaries through qemu once binfmt_misc knows it; the F flag
# (Debian's default) loads the interpreter at registration, so it also works inside
# containers, which do not have it.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi

base_name() {  # platform -> Debian architecture
  case "$1" in
    linux/arm64 | linux/arm64/v8) echo arm64 ;;
    linux/arm/v7) echo armhf ;;
    *) echo "unsupported platform: $1 (linux/arm64, linux/arm/v7)" >&2; return 1 ;;
  esac
}

bootstrap() {  # Debian architecture, archive: a minimal root filesystem with python3
  local arch="$1" archive="$2" rootfs start=$SECONDS
  rootfs="$(mktemp -d)"
  debootstrap --arch="$arch" --variant=minbase \
    --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" >"/tmp/debootstrap-$arch.log" 2>&1 \
    || { echo "debootstrap failed; see /tmp/debootstrap-$arch.log" >&2; rm -rf "$rootfs"; return 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$archive.part" . && mv "$archive.part" "$archive"
  rm -rf "$rootfs"
  echo "debootstrap --arch=$arch took $((SECONDS - start)) s" >&2
}

# Root filesystems first, side by side (each is mostly one emulated dpkg at a time).
todo=() pids=()
for platform in "${PLATFORMS[@]}"; do
  arch="$(base_name "$platform")"
  qemu="$([ "$arch" = arm64 ] && echo qemu-aarch64 || echo qemu-arm)"
  [ -e "/proc/sys/fs/binfmt_misc/$qemu" ] || update-binfmts --enable "$qemu"
  image="csu-local/debian-python:bookworm-$arch"
  archive="$CACHE/debian-python-bookworm-$arch.tar"
  if [ "${CSU_REBUILD_BASES:-}" = 1 ]; then
    rm -f "$archive"
  elif $DOCKER image inspect "$image" >/dev/null 2>&1; then
    continue
  fi
  todo+=("$platform")
  if [ ! -s "$archive" ]; then
    echo "building $image with debootstrap --arch=$arch (a few minutes under emulation)" >&2
    mkdir -p "$CACHE"
    bootstrap "$arch" "$archive" &
    pids+=($!)
  fi
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || exit 1

for platform in "${todo[@]}"; do
  arch="$(base_name "$platform")"
  image="csu-local/debian-python:bookworm-$arch"
  context="$(mktemp -d)"
  ln "$CACHE/debian-python-bookworm-$arch.tar" "$context/rootfs.tar" 2>/dev/null \
    || cp "$CACHE/debian-python-bookworm-$arch.tar" "$context/rootfs.tar"
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n' >"$context/Dockerfile"
  DOCKER_BUILDKIT=0 $DOCKER build -q --platform "$platform" -t "$image" "$context" >/dev/null
  rm -rf "$context"
  got="$($DOCKER image inspect -f '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' "$image")"
  machine="$($DOCKER run --rm --platform "$platform" "$image" uname -m)"
  echo "base $image: $got, uname -m: $machine" >&2
done
