#!/usr/bin/env bash
# Run docker-compose.test.yml end to end; the exit code is the verdict.
#  1. start the OpenSSH server container, generate the instrument data
#  2. agent-shell (two jobs by key) and agent-sftp (SFTP-only, password secret): `once`
#  3. agent-restart: the server is stopped mid-file and started again; the agent must
#     retry, resume and finish on its own
#  4. verify.py checks both sides byte for byte
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=/usr/bin/docker
PROJECT="${CSU_COMPOSE_PROJECT:-csu-test}"
compose() { docker-compose -f docker-compose.test.yml -p "$PROJECT" "$@"; }
step() { echo "== $*" >&2; }

[ "${CSU_SKIP_BUILD:-}" = 1 ] || bash tests/container/build-images.sh
compose down -v --remove-orphans >/dev/null 2>&1 || true
trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true' EXIT

step "start the OpenSSH server"
compose up -d sshd
for _ in $(seq 1 60); do
  compose exec -T sshd test -s /keys/known_hosts && break
  sleep 0.5
done
step "generate instrument data"
compose run --rm -T generate

step "agent-shell: directories (removal on) and files (removal off) by key"
compose run --rm -T agent-shell
step "agent-sftp: SFTP-only account, password from /run/secrets"
compose run --rm -T agent-sftp

step "agent-restart: stop the server in the middle of a file, then start it again"
container="$(compose run -d -T agent-restart)"
for _ in $(seq 1 600); do
  size="$(compose exec -T sshd sh -c 'stat -c %s /srv/upload/station/restart/.csu/partial/*.csu-partial 2>/dev/null || echo 0')"
  [ "${size//[^0-9]/}" -gt 2000000 ] 2>/dev/null && break
  sleep 0.1
done
echo "partial file at ${size//[^0-9]/} bytes: stopping the server" >&2
compose stop -t 1 sshd
sleep 4
compose start sshd
status="$($DOCKER wait "$container")"
$DOCKER logs "$container" 2>&1 | tail -n 25 >&2
retries="$($DOCKER logs "$container" 2>&1 | grep -c 'retrying in' || true)"
$DOCKER rm "$container" >/dev/null
[ "$status" = 0 ] || { echo "agent-restart exited $status" >&2; exit 1; }
[ "$retries" -ge 1 ] || { echo "agent-restart never retried: the stop came too late" >&2; exit 1; }

step "verify both sides"
compose run --rm -T verify
