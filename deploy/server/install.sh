#!/bin/bash
# install.sh: install the circadian-scp-upload server kit on this SSH server (run as root).
#
# usage: deploy/server/install.sh
#
# Installs csu-only to /usr/local/bin (0755), add-station and remove-station to
# /usr/local/sbin (0755) and csu-upload.conf to /etc/ssh/sshd_config.d (0644); creates
# /etc/ssh/authorized_keys (root:root 0755), /etc/csu-upload/stations (add-station's
# records), the group csu-upload (the stations) and the group csu-read (who reads every
# station's folder: the office, downstream processing); installs bubblewrap (apt-get) where it is
# missing and checks that it can make csu-only's jail for an ordinary account; checks
# sshd's configuration (sshd -t; a conf that breaks it is taken back) and reloads sshd
# if it runs. Safe to run again.
#
# Environment (for tests, or other layouts): BIN_DIR, SBIN_DIR, SSHD_CONFIG_DIR (the
# three targets above), SSHD_CONFIG (the configuration sshd -t checks, default
# /etc/ssh/sshd_config), SSHD_PID_FILE (default /run/sshd.pid), RELOAD=no (never reload),
# INSTALL_PACKAGES=no (never run apt-get: install bubblewrap and python3 yourself).
set -euo pipefail

PROG=install.sh
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
BIN_DIR=${BIN_DIR:-/usr/local/bin}
SBIN_DIR=${SBIN_DIR:-/usr/local/sbin}
SSHD_CONFIG_DIR=${SSHD_CONFIG_DIR:-/etc/ssh/sshd_config.d}
SSHD_CONFIG=${SSHD_CONFIG:-/etc/ssh/sshd_config}
SSHD_PID_FILE=${SSHD_PID_FILE:-/run/sshd.pid}
RELOAD=${RELOAD:-yes}
INSTALL_PACKAGES=${INSTALL_PACKAGES:-yes}
BWRAP=/usr/bin/bwrap # as in csu-only
KEYS_DIR=/etc/ssh/authorized_keys # as in csu-upload.conf
GROUP=csu-upload                  # as in csu-upload.conf
READ_GROUP=csu-read               # add-station's default readers' group
STATIONS_DIR=${STATIONS_DIR:-/etc/csu-upload/stations} # add-station's records
SSHD=$(command -v sshd || echo /usr/sbin/sshd)

say() {
    printf '%s: %s\n' "$PROG" "$1"
}

warn() {
    printf '%s: warning: %s\n' "$PROG" "$1" >&2
}

die() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    exit 1
}

# put SOURCE TARGET MODE: install a file (root:root), saying whether it changed.
put() {
    if [[ -f $2 ]] && cmp -s -- "$1" "$2"; then
        chown root:root -- "$2"
        chmod "$3" -- "$2"
        say "$2 is up to date"
    else
        install -D -m "$3" -o root -g root -- "$1" "$2"
        say "installed $2 (mode $3)"
    fi
}

((EUID == 0)) || die "run me as root"
[[ -x $SSHD ]] || die "no sshd here: install OpenSSH's server first (apt-get install openssh-server)"
for file in csu-only add-station remove-station csu-upload.conf; do
    [[ -f $HERE/$file ]] || die "$HERE/$file is missing: run me from the kit's folder (deploy/server)"
done

put "$HERE/csu-only" "$BIN_DIR/csu-only" 0755
put "$HERE/add-station" "$SBIN_DIR/add-station" 0755
put "$HERE/remove-station" "$SBIN_DIR/remove-station" 0755

conf=$SSHD_CONFIG_DIR/csu-upload.conf
backup=
if [[ -f $conf ]] && ! cmp -s -- "$HERE/csu-upload.conf" "$conf"; then
    backup=$(mktemp)
    cp -p -- "$conf" "$backup"
fi
trap '[[ -z $backup ]] || rm -f -- "$backup"' EXIT
fresh=no
[[ -e $conf ]] || fresh=yes
put "$HERE/csu-upload.conf" "$conf" 0644

install -d -m 0755 -o root -g root -- "$KEYS_DIR"
say "$KEYS_DIR: root:root 0755 (the stations' keys, one file per account)"
for name in "$GROUP" "$READ_GROUP"; do
    if getent group "$name" >/dev/null; then
        say "group $name exists"
    else
        groupadd --system "$name"
        say "created group $name"
    fi
done
install -d -m 0755 -o root -g root -- "$STATIONS_DIR"
say "$STATIONS_DIR: root:root 0755 (what add-station was told, one file per station)"

missing=()
[[ -x /usr/bin/python3 ]] || missing+=(python3)
[[ -x $BWRAP ]] || missing+=(bubblewrap)
if ((${#missing[@]})); then
    if [[ $INSTALL_PACKAGES != no ]] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]} (apt-get; INSTALL_PACKAGES=no to skip)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
            warn "apt-get could not install ${missing[*]}"
    fi
fi
[[ -x /usr/bin/python3 ]] || warn "no /usr/bin/python3: csu-only, every station's forced command, needs it (add-station --no-jail alone does without)"
# The jail as csu-only makes it, for an ordinary account (nobody): can this machine?
if [[ ! -x $BWRAP ]]; then
    warn "no $BWRAP (bubblewrap): csu-only refuses SFTP until it is installed (apt-get install bubblewrap), or add stations with --no-jail"
elif jailed=$(setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$BWRAP" --unshare-all \
    --die-with-parent --new-session --ro-bind / / --dev /dev /bin/true 2>&1); then
    say "bubblewrap makes csu-only's jail here: stations see their own folder only"
else
    warn "bubblewrap cannot make a jail here (${jailed:-no message}): csu-only then refuses SFTP. Allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; in a container: --security-opt seccomp=unconfined), or add stations with --no-jail"
fi
if ! grep -qiE "^[[:space:]]*include[[:space:]]+${SSHD_CONFIG_DIR}/" "$SSHD_CONFIG" 2>/dev/null; then
    warn "$SSHD_CONFIG does not include $SSHD_CONFIG_DIR: add 'Include $SSHD_CONFIG_DIR/*.conf' at its top"
fi

if ! checked=$("$SSHD" -t -f "$SSHD_CONFIG" 2>&1); then
    if [[ -n $backup ]]; then
        cp -p -- "$backup" "$conf"
        say "sshd -t failed: put the previous $conf back"
    elif [[ $fresh == yes ]]; then
        rm -f -- "$conf"
        say "sshd -t failed: removed $conf again"
    fi
    die "sshd -t -f $SSHD_CONFIG failed, sshd not reloaded: $checked"
fi
say "sshd -t -f $SSHD_CONFIG: the configuration is valid"

if [[ $RELOAD == no ]]; then
    say "RELOAD=no: sshd not reloaded"
elif command -v systemctl >/dev/null && systemctl is-active --quiet ssh 2>/dev/null; then
    systemctl reload ssh
    say "reloaded sshd (systemctl reload ssh)"
elif [[ -s $SSHD_PID_FILE ]] && kill -0 "$(<"$SSHD_PID_FILE")" 2>/dev/null; then
    kill -HUP "$(<"$SSHD_PID_FILE")"
    say "reloaded sshd (SIGHUP to $(<"$SSHD_PID_FILE") from $SSHD_PID_FILE)"
else
    say "sshd is not running: the settings apply when it starts"
fi

cat <<EOF

Next, for each station (as root):
  $SBIN_DIR/add-station STATION-USER /path/to/station.pub            # SFTP only
  $SBIN_DIR/add-station --csu-only STATION-USER /path/to/station.pub # + hashing on the server
The office (fleet on this server, a page every 10 min): $HERE/install-office.sh
EOF
