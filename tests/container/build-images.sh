#!/usr/bin/env bash
# Build the images of the container tier.
#   bash tests/container/build-images.sh               the agent image circadian-scp-upload:test
#                                                      and the test OpenSSH server csu-test-sshd:test
#   bash tests/container/build-images.sh PLATFORM      the agent only, for linux/arm64 or
#                                                      linux/arm/v7 under emulation, as
#                                                      circadian-scp-upload:test-arm64 / test-armv7
# Settings:
#   BASE_IMAGE       base of the agent image (default: the local stand-in for the platform
#                    if present, csu-local/debian-python:bookworm[-arm64|-armhf], else
#                    python:3.12-slim)
#   SSHD_BASE_IMAGE  base of the test server (default: the local amd64 stand-in, else
#                    debian:bookworm-slim)
#   CSU_BUILD_CA     CA bundle handed to pip as the BuildKit secret `ca` (default: the
#                    system bundle, which includes a TLS-intercepting proxy's CA if any)
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=/usr/bin/docker
PLATFORM="${1:-}"
LOCAL_BASE="${CSU_LOCAL_BASE:-csu-local/debian-python:bookworm}"
case "$PLATFORM" in
  "") suffix="" tag=test ;;
  linux/arm64) suffix=-arm64 tag=test-arm64 ;;
  linux/arm/v7) suffix=-armhf tag=test-armv7 ;;
  *) echo "unsupported platform: $PLATFORM (linux/arm64, linux/arm/v7)" >&2; exit 2 ;;
esac
if $DOCKER image inspect "$LOCAL_BASE$suffix" >/dev/null 2>&1; then
  : "${BASE_IMAGE:=$LOCAL_BASE$suffix}"
fi
if $DOCKER image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
  : "${SSHD_BASE_IMAGE:=$LOCAL_BASE}"
fi
BASE_IMAGE="${BASE_IMAGE:-python:3.12-slim}"
SSHD_BASE_IMAGE="${SSHD_BASE_IMAGE:-debian:bookworm-slim}"
CA="${CSU_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[ -s "$CA" ] && args+=(--secret "id=ca,src=$CA")
[ -z "$PLATFORM" ] || args+=(--platform "$PLATFORM")
export DOCKER_BUILDKIT=1
start=$SECONDS
$DOCKER build -q "${args[@]}" -t "circadian-scp-upload:$tag" . >/dev/null
size="$($DOCKER image inspect -f '{{.Size}}' "circadian-scp-upload:$tag")"
echo "built circadian-scp-upload:$tag (${PLATFORM:-native}, base $BASE_IMAGE) in" \
  "$((SECONDS - start)) s: $((size / 1000000)) MB" >&2
if [ -z "$PLATFORM" ]; then
  $DOCKER build -q --build-arg "BASE_IMAGE=$SSHD_BASE_IMAGE" \
    -t csu-test-sshd:test tests/container/sshd >/dev/null
  echo "built csu-test-sshd:test (base $SSHD_BASE_IMAGE)" >&2
fi
