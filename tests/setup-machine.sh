#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) for the whole test suite: OpenSSH server,
# rsync, this package with its test tools, and (for the container tier) a running
# Docker engine with docker-compose and a base image. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
need_apt=()
for package in openssh-server openssh-client rsync fuse libfuse2; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
mkdir -p /run/sshd
bash tests/servers/install.sh

python3 -m pip install -q -e '.[test]'

bash tests/container/prepare-docker.sh
