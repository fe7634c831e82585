#!/usr/bin/env bash
# Install, from Debian's packages, the SSH servers and shells of the interop tier
# (tests/interop/): Dropbear, ProFTPD with mod_sftp, tinysshd under tcpserver, fish, and
# OpenSSH's sftp-server (Dropbear's SFTP). The tests start each server themselves on a
# loopback port; no daemon is left running or enabled here. Idempotent: installs only
# what is missing. Run as root.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
# binary the tests run : package that provides it
wanted=(
  /usr/sbin/dropbear:dropbear-bin
  /usr/bin/dropbearkey:dropbear-bin
  /usr/sbin/proftpd:proftpd-core
  /usr/lib/proftpd/mod_sftp.so:proftpd-mod-crypto
  /usr/sbin/tinysshd:tinysshd
  /usr/bin/tcpserver:ucspi-tcp
  /usr/bin/fish:fish
  /usr/lib/openssh/sftp-server:openssh-sftp-server
  /usr/bin/openssl:openssl
)
missing=()
for entry in "${wanted[@]}"; do
  package="${entry##*:}"
  if [ ! -e "${entry%%:*}" ] && [[ " ${missing[*]} " != *" $package "* ]]; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Keep maintainer scripts from starting daemons while installing (only if no policy is
# in place already; ours is removed again on exit).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

# Whatever a package registered as a service stays stopped and disabled: the tests
# start their own instances on free loopback ports.
for service in proftpd tinysshd.socket dropbear; do
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
if [ -x /etc/init.d/proftpd ]; then
  /etc/init.d/proftpd stop >/dev/null 2>&1 || true
  update-rc.d proftpd disable >/dev/null 2>&1 || true
fi
