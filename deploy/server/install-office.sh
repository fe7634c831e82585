#!/bin/bash
# install-office.sh: the office's side of the server kit: the `fleet` command on this
# server, and a timer that renders the fleet page (run as root, after install.sh).
#
# usage: deploy/server/install-office.sh [--root DIR] [--every MINUTES]
#
# - A virtual environment in /opt/circadian-scp-upload (Debian's python3 refuses a
#   system pip, PEP 668) with the locked dependencies (requirements.lock, every file's
#   hash checked) and this kit's wheel (circadian_scp_upload-*.whl next to this script,
#   as the station bundle carries it; from a checkout of the repository, built from it).
# - csu-fleet (/usr/local/bin): `fleet` of that environment, with the kit's records
#   (--stations /etc/csu-upload/stations), so every enrolled station has a row.
# - The system account csu-office, in the read group csu-read that add-station gives
#   every station's folder: the page is made without root.
# - csu-fleet.service and csu-fleet.timer (systemd; a cron line where there is none):
#   every MINUTES (default 10) the page /var/lib/csu-fleet/index.html; the service fails
#   (exit 1: `systemctl --failed`, OnFailure= for mail) while a station is late, failing,
#   broken or missing.
# Safe to run again (a new wheel replaces the old one).
#
# Environment: OFFICE_DIR (/opt/circadian-scp-upload), BIN_DIR (/usr/local/bin),
# UNIT_DIR (/etc/systemd/system), PAGE_DIR (/var/lib/csu-fleet), CRON_FILE, STATIONS_DIR,
# INSTALL_PACKAGES=no (never run apt-get), PIP_ARGS (extra pip options, e.g. --no-index
# --find-links DIR where the server has no way to PyPI).
set -euo pipefail

PROG=install-office.sh
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
OFFICE_DIR=${OFFICE_DIR:-/opt/circadian-scp-upload}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
PAGE_DIR=${PAGE_DIR:-/var/lib/csu-fleet}
CRON_FILE=${CRON_FILE:-/etc/cron.d/csu-fleet}
STATIONS_DIR=${STATIONS_DIR:-/etc/csu-upload/stations}
INSTALL_PACKAGES=${INSTALL_PACKAGES:-yes}
READ_GROUP=csu-read
OFFICE_USER=csu-office
root=/srv/upload
every=10

say() { printf '%s: %s\n' "$PROG" "$1"; }
die() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    exit "${2:-1}"
}

while (($#)); do
    case $1 in
    --root | --every)
        (($# >= 2)) || die "$1 needs a value" 2
        [[ $1 == --root ]] && root=$2 || every=$2
        shift
        ;;
    -h | --help)
        sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument $1 (see --help)" 2 ;;
    esac
    shift
done
((EUID == 0)) || die "run me as root"
[[ $root =~ ^/[A-Za-z0-9._/+@:-]*$ ]] || die "--root $root: give an absolute path" 2
[[ $every =~ ^[1-9][0-9]{0,3}$ ]] || die "--every $every: give minutes, 1 to 9999" 2

# the wheel and the lock: next to this script (a bundle), else from the repository
lock=$HERE/requirements.lock
[[ -f $lock ]] || lock=$HERE/../../requirements.lock
[[ -f $lock ]] || die "no requirements.lock next to me or in the repository: copy the kit from a bundle or a checkout"
wheels=("$HERE"/circadian_scp_upload-*.whl)
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if [[ $INSTALL_PACKAGES != no ]] && command -v apt-get >/dev/null; then
        say "installing python3-venv (apt-get; INSTALL_PACKAGES=no to skip)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv >/dev/null
    fi
    python3 -c 'import ensurepip, venv' 2>/dev/null || die "python3 cannot make a virtual environment: apt-get install python3-venv"
fi

[[ -x $OFFICE_DIR/bin/python ]] || python3 -m venv "$OFFICE_DIR"
# shellcheck disable=SC2086 # PIP_ARGS is a list of options
"$OFFICE_DIR/bin/python" -m pip install -q --disable-pip-version-check ${PIP_ARGS:-} \
    --require-hashes -r "$lock"
if [[ -f ${wheels[0]} ]]; then
    wheel=${wheels[-1]}
else
    [[ -f $HERE/../../pyproject.toml ]] || die "no circadian_scp_upload-*.whl next to me, and no repository to build one from"
    built=$(mktemp -d)
    trap 'rm -rf -- "$built"' EXIT
    # shellcheck disable=SC2086
    "$OFFICE_DIR/bin/python" -m pip wheel -q --disable-pip-version-check ${PIP_ARGS:-} \
        --no-deps -w "$built" "$HERE/../.."
    wheel=$(ls "$built"/circadian_scp_upload-*.whl)
fi
# shellcheck disable=SC2086
"$OFFICE_DIR/bin/python" -m pip install -q --disable-pip-version-check ${PIP_ARGS:-} \
    --no-deps --force-reinstall "$wheel"
version=$("$OFFICE_DIR/bin/circadian-scp-upload" --version)
say "installed $version in $OFFICE_DIR (from $(basename -- "$wheel"))"

cat >"$BIN_DIR/csu-fleet.new" <<EOF
#!/bin/sh
# csu-fleet: the fleet of this server's stations (installed by install-office.sh)
exec $OFFICE_DIR/bin/circadian-scp-upload fleet --stations $STATIONS_DIR "\$@"
EOF
chmod 0755 "$BIN_DIR/csu-fleet.new"
mv -f -- "$BIN_DIR/csu-fleet.new" "$BIN_DIR/csu-fleet"
say "installed $BIN_DIR/csu-fleet (fleet with --stations $STATIONS_DIR)"

getent group "$READ_GROUP" >/dev/null || groupadd --system "$READ_GROUP"
if ! getent passwd "$OFFICE_USER" >/dev/null; then
    useradd --system --no-create-home --home-dir "$PAGE_DIR" --shell /usr/sbin/nologin \
        --gid "$READ_GROUP" --comment "circadian-scp-upload office" "$OFFICE_USER"
    say "created the system account $OFFICE_USER (group $READ_GROUP: reads every station's folder)"
fi
install -d -m 0755 -o "$OFFICE_USER" -g "$READ_GROUP" -- "$PAGE_DIR"

run_line="$BIN_DIR/csu-fleet $root --html $PAGE_DIR/index.html"
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    cat >"$UNIT_DIR/csu-fleet.service" <<EOF
[Unit]
Description=circadian-scp-upload: the fleet page (fails while a station is late, failing, broken or missing)

[Service]
Type=oneshot
User=$OFFICE_USER
Group=$READ_GROUP
ExecStart=$run_line
EOF
    cat >"$UNIT_DIR/csu-fleet.timer" <<EOF
[Unit]
Description=circadian-scp-upload: the fleet page every $every min

[Timer]
OnBootSec=2min
OnUnitActiveSec=${every}min

[Install]
WantedBy=timers.target
EOF
    systemctl daemon-reload
    systemctl enable --now csu-fleet.timer >/dev/null
    say "csu-fleet.timer: $PAGE_DIR/index.html every $every min (systemctl status csu-fleet)"
else
    line="*/$every * * * * $OFFICE_USER $run_line >/dev/null"
    echo "$line" >"$CRON_FILE"
    chmod 0644 "$CRON_FILE"
    say "no systemd: $CRON_FILE runs it every $every min"
fi

cat <<EOF

The fleet, now (as $OFFICE_USER, who reads what the office reads):
  setpriv --reuid=$OFFICE_USER --regid=$READ_GROUP --init-groups $run_line
EOF
