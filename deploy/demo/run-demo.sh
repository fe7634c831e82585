#!/usr/bin/env bash
# The agent's main job, end to end, on one machine: start a throwaway OpenSSH server,
# generate instrument data (yesterday and the three days before it, today and tomorrow),
# start the agent daemon with two jobs, and show what the server received and what
# stayed on the station. Exits 0 once the agent's first pass finished cleanly.
#   spectrometer: /data/dirs, a folder per day; local files removed once verified
#   weather:      /data/files, dated files; local files kept
# KEEP=1 leaves the stack running afterwards (stop it with `docker-compose -p csu-demo down -v`).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] && bash tests/container/prepare-docker.sh
bash tests/container/build-images.sh
compose() { docker-compose -f deploy/demo/docker-compose.yml -p csu-demo "$@"; }
compose down -v --remove-orphans >/dev/null 2>&1 || true
[ "${KEEP:-}" = 1 ] || trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true' EXIT

compose up -d sshd
for _ in $(seq 1 60); do compose exec -T sshd test -s /keys/known_hosts && break; sleep 0.5; done
compose run --rm -T generate
compose up -d agent
echo "== agent log (first pass)" >&2
status=1
for _ in $(seq 1 120); do
  log="$(compose logs --no-color agent)"   # read whole: grep -q would cut the pipe
  if grep -q "pass finished: ok" <<<"$log"; then status=0; break; fi
  if grep -q "pass finished: " <<<"$log"; then break; fi
  sleep 1
done
compose logs --no-color agent | sed 's/^[^|]*| //'
echo "== what the server holds now" >&2
compose exec -T sshd sh -c 'cd /srv/upload/station && find . -type f | sort'
echo "== what stayed on the station: spectrometer (dirs/) removed its uploaded days;" \
  "weather (files/) keeps every file; today and tomorrow are not ready yet" >&2
compose run --rm -T --entrypoint sh generate -c 'cd /data && find dirs files -type f | sort'
exit "$status"
