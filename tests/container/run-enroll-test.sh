#!/usr/bin/env bash
# A new station to its first verified day by the build route, with Debian's
# docker-compose 1.29: the station's own deploy/ files (copied from a checkout) against
# the test OpenSSH container, on which the admin applies the server kit. (The documented
# path itself, from a station bundle with compose v2: tests/container/doc_paths.py.)
# Exit 0: the path works; each step's time is printed, and the total.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
DOCKER=/usr/bin/docker
work="$(mktemp -d /tmp/csu-enroll-XXXXXX)"
station="$work/station"
compose() { (cd "$station" && docker-compose -p csu-enroll -f docker-compose.yml -f server.yml "$@"); }
cleanup() { compose down -v --remove-orphans >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*" >&2; }
[ "${CSU_SKIP_BUILD:-}" = 1 ] || bash tests/container/build-images.sh

step "the station's folder: deploy/ copied, the instrument's data (three past days, today)"
cp -r deploy "$station"
cp tests/container/enroll-server.yml "$station/server.yml"
mkdir -p "$work/data"
# the days are named once, from the date at the start: a run across midnight keeps its
# days (the new "yesterday" is still inside its grace period when the checks run)
today="$(date -u +%Y-%m-%d)"
for offset in 3 2 1 0; do
  day="$(date -u -d "$today -$offset day" +%Y%m%d)"
  mkdir -p "$work/data/$day"
  head -c 300000 /dev/urandom >"$work/data/$day/spectrum.bin"
  echo "$day" >"$work/data/$day/log.txt"
  # a past day's files were written during it (midday: quiet since, CSU_QUIET_MINUTES,
  # whatever time of day the test runs)
  [ "$offset" = 0 ] || touch -d "$(date -u -d "$today -$offset day" +%Y-%m-%d) 12:00" "$work/data/$day"/*
done
chown -R 10001:10001 "$work/data"

step "1. .env: the station's name, the image, the data folder and its owner"
cp "$station/.env.example" "$station/.env"
sed -i -e "s|^CSU_STATION=.*|CSU_STATION=station-kit|" \
  -e "s|^CSU_IMAGE=.*|CSU_IMAGE=circadian-scp-upload:test|" \
  -e "s|^CSU_DATA_DIR=.*|CSU_DATA_DIR=$work/data|" \
  -e "s|^CSU_UID=.*|CSU_UID=$(stat -c %u "$work/data")|" \
  -e "s|^CSU_GID=.*|CSU_GID=$(stat -c %g "$work/data")|" "$station/.env"
step "2. station.env: server, account, destination"
cp "$station/station.env.example" "$station/station.env"
sed -i -e "s|^CSU_HOST=.*|CSU_HOST=sshd|" -e "s|^CSU_USER=.*|CSU_USER=station-kit|" \
  -e "s|^CSU_DST=.*|CSU_DST=/srv/upload/station-kit/spectra|" \
  -e "s|^CSU_TIMEZONE=.*|CSU_TIMEZONE=UTC|" \
  -e "s|^CSU_REMOVE_AFTER_UPLOAD=.*|CSU_REMOVE_AFTER_UPLOAD=true|" \
  -e "s|^CSU_GRACE_MINUTES=.*|CSU_GRACE_MINUTES=0|" "$station/station.env"
# the past days were made seconds ago: their change times (which touch -d cannot set
# back) are now, and a day is quiet only when those are old too
echo "CSU_QUIET_MINUTES=0" >>"$station/station.env"

step "the server is up; its admin installs the server kit"
compose up -d sshd
for _ in $(seq 1 60); do compose exec -T sshd test -s /keys/known_hosts && break; sleep 0.5; done
compose exec -T sshd /kit/install.sh

step "3. enroll: the station's key and the line for the admin"
enrolled="$(compose run --rm -T circadian-scp-upload enroll)"
echo "$enrolled" >&2
key="$(sed -n 's/^public key: //p' <<<"$enrolled")"
[ -n "$key" ] || { echo "enroll printed no public key" >&2; exit 1; }

step "4. the admin adds the station (one command)"
compose exec -T sshd add-station station-kit "$key"
fingerprint="$(compose exec -T sshd ssh-keygen -lf /keys/ssh_host_ed25519_key.pub | awk '{print $2}')"

step "5. enroll --fingerprint: the host key the admin gave, recorded"
compose run --rm -T circadian-scp-upload enroll --fingerprint "$fingerprint" >&2

step "6. check --write: the whole path proven before any day is ready"
compose run --rm -T circadian-scp-upload check --write >&2

step "7. up -d: the daemon's first pass"
compose up -d circadian-scp-upload
status=1
for _ in $(seq 1 120); do
  log="$(compose logs --no-color circadian-scp-upload)"
  if grep -q "pass finished: ok" <<<"$log"; then status=0; break; fi
  if grep -q "pass finished: " <<<"$log"; then break; fi
  sleep 1
done
compose logs --no-color circadian-scp-upload | sed 's/^[^|]*| //' >&2
[ "$status" = 0 ] || { echo "the first pass did not finish ok" >&2; exit 1; }
step "first verified days: what the server holds, what stayed on the station"
held="$(compose exec -T sshd sh -c 'cd /srv/upload/station-kit/spectra && find . -type f | sort')"
echo "$held" >&2
for offset in 3 2 1; do
  day="$(date -u -d "$today -$offset day" +%Y%m%d)"
  grep -q "./$day/spectrum.bin" <<<"$held" || { echo "$day missing on the server" >&2; exit 1; }
  [ ! -e "$work/data/$day" ] || { echo "$day was not removed locally" >&2; exit 1; }
done
[ -e "$work/data/$(date -u -d "$today" +%Y%m%d)/spectrum.bin" ] || { echo "today was touched" >&2; exit 1; }

step "a new container (an upgrade) keeps the station's name, key, host key and status"
before="$(compose exec -T circadian-scp-upload circadian-scp-upload status --json)"
compose up -d --force-recreate circadian-scp-upload
after="$(compose exec -T circadian-scp-upload circadian-scp-upload status --json)"
python3 - "$before" "$after" <<'PY'
import json, sys
before, after = (json.loads(text) for text in sys.argv[1:3])
assert after["station"] == "station-kit", after["station"]
# the counters went on from where they were: the state volume outlived the container
assert after["passes_total"]["ok"] > before["passes_total"]["ok"] >= 1, (before, after)
assert after["uploaded_files_total"] == before["uploaded_files_total"] == 6, (before, after)
PY
again="$(compose run --rm -T circadian-scp-upload enroll)"  # the same key, not a new one
grep "station key: /state/agent/station_key (ssh-ed25519" <<<"$again" >/dev/null
grep "public key: $key" <<<"$again" >/dev/null
echo "the ten-minute path took $((SECONDS - start)) s here" >&2
