#!/usr/bin/env bash
# The agent's ARM image, run under emulation against the test OpenSSH server; the exit
# code is the verdict.
#   bash tests/container/run-arm-test.sh linux/arm64     (or linux/arm/v7)
#  1. build circadian-scp-upload:test-arm64 (test-armv7) on the platform's base, unless
#     CSU_SKIP_BUILD=1 (tests/container/prepare-arm.sh makes the local bases and registers
#     qemu), and the amd64 server, generator and verifier images if missing
#  2. check the image: labelled for the platform, `uname -m` inside, no C compiler
#  3. docker-compose.test.yml with the agents from that image: agent-shell (two jobs by
#     key: directories with removal, files without) and agent-sftp (SFTP-only, password),
#     each `once`
#  4. verify.py checks the server byte for byte and what stayed local
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=/usr/bin/docker
PLATFORM="${1:?usage: run-arm-test.sh linux/arm64|linux/arm/v7}"
case "$PLATFORM" in
  linux/arm64) name=arm64 arch=arm64 variant="" machine=aarch64 ;;
  linux/arm/v7) name=armv7 arch=arm variant=v7 machine=armv7l ;;
  *) echo "unsupported platform: $PLATFORM" >&2; exit 2 ;;
esac
IMAGE="circadian-scp-upload:test-$name"
PROJECT="csu-test-$name"
export AGENT_IMAGE="$IMAGE" CSU_AREAS=dirs,files,sftp
compose() { docker-compose -f docker-compose.test.yml -p "$PROJECT" "$@"; }
step() { echo "== $*" >&2; }
fail() { echo "FAIL $*" >&2; exit 1; }

if [ "${CSU_SKIP_BUILD:-}" != 1 ]; then
  $DOCKER image inspect circadian-scp-upload:test csu-test-sshd:test >/dev/null 2>&1 \
    || bash tests/container/build-images.sh
  step "build $IMAGE for $PLATFORM"
  bash tests/container/build-images.sh "$PLATFORM"
fi

step "the image: platform, machine, no compiler"
labelled="$($DOCKER image inspect -f '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' "$IMAGE")"
echo "image platform: $labelled" >&2
[ "$labelled" = "linux/$arch${variant:+/$variant}" ] || fail "image labelled $labelled, not $PLATFORM"
inside="$($DOCKER run --rm --platform "$PLATFORM" --entrypoint uname "$IMAGE" -m)"
echo "uname -m inside: $inside" >&2
[ "$inside" = "$machine" ] || fail "uname -m says $inside, not $machine"
compilers="$($DOCKER run --rm --platform "$PLATFORM" --entrypoint sh "$IMAGE" -c \
  'for c in cc gcc c++ g++ clang make; do command -v "$c" || true; done')"
[ -z "$compilers" ] || fail "the final image carries a compiler: $compilers"
$DOCKER run --rm --platform "$PLATFORM" "$IMAGE" exit-codes >/dev/null \
  || fail "the agent does not start in $IMAGE"

compose down -v --remove-orphans >/dev/null 2>&1 || true
trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true' EXIT
step "start the OpenSSH server (native) and generate instrument data"
compose up -d sshd
for _ in $(seq 1 60); do
  compose exec -T sshd test -s /keys/known_hosts && break
  sleep 0.5
done
compose run --rm -T generate

step "agent-shell ($name, emulated): directories (removal on) and files (removal off) by key"
start=$SECONDS
compose run --rm -T agent-shell
step "agent-sftp ($name, emulated): SFTP-only account, password from /run/secrets"
compose run --rm -T agent-sftp
echo "the $name agent's passes took $((SECONDS - start)) s under emulation" >&2

step "verify both sides"
compose run --rm -T verify
