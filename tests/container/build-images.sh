#!/usr/bin/env bash
# Build the agent image and the test OpenSSH server image.
#   BASE_IMAGE       base of the agent image (default: the local stand-in if present,
#                    else python:3.12-slim)
#   SSHD_BASE_IMAGE  base of the test server (default: the same local stand-in, else
#                    debian:bookworm-slim)
#   CSU_BUILD_CA     CA bundle handed to pip as the BuildKit secret `ca` (default: the
#                    system bundle, which includes a TLS-intercepting proxy's CA if any)
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=/usr/bin/docker
LOCAL_BASE="${CSU_LOCAL_BASE:-csu-local/debian-python:bookworm}"
if $DOCKER image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
  : "${BASE_IMAGE:=$LOCAL_BASE}" "${SSHD_BASE_IMAGE:=$LOCAL_BASE}"
fi
BASE_IMAGE="${BASE_IMAGE:-python:3.12-slim}"
SSHD_BASE_IMAGE="${SSHD_BASE_IMAGE:-debian:bookworm-slim}"
CA="${CSU_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
[ -s "$CA" ] && secret=(--secret "id=ca,src=$CA")
export DOCKER_BUILDKIT=1
$DOCKER build -q "${secret[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -t circadian-scp-upload:test . >/dev/null
$DOCKER build -q --build-arg "BASE_IMAGE=$SSHD_BASE_IMAGE" \
  -t csu-test-sshd:test tests/container/sshd >/dev/null
echo "built circadian-scp-upload:test (base $BASE_IMAGE) and csu-test-sshd:test" >&2
