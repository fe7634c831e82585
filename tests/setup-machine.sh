#!/usr/bin/env bash
# Prepare a fresh Debian 12 or Ubuntu 24.04 machine (as root) for the whole test suite:
# OpenSSH server, rsync, lftp, rclone, Chromium (headless), a virtual environment .venv with this package and its test
# tools, and (for the container tier) a running Docker engine with docker-compose, base
# images, and arm64/armv7 emulation. Idempotent; safe to run again.
#
# The package goes into .venv (from the lock file), made with the first python3 on PATH: Debian's and
# Ubuntu's own python3 refuse `pip install` outside a virtual environment (PEP 668,
# externally-managed-environment). The test command runs that environment's
# interpreter, `.venv/bin/python -m pytest`, so nothing needs activating.
# CSU_SKIP_ARM=1 leaves out the ARM emulation and bases (the ARM tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
need_apt=()
# chromium: the fleet page is opened in a headless browser (tests/integration/test_fleet_view.py)
# faketime: a station whose clock is wrong (tests/integration/test_measuring_station.py)
# lftp, rclone: the benchmark's peers beside rsync and scp (tests/benchmark)
# bubblewrap: the server kit's jail for a station's SFTP (deploy/server/csu-only)
# sudo: the documents' paths type it (tests/container/doc_paths.py)
for package in openssh-server openssh-client rsync fuse libfuse2 chromium faketime lftp rclone bubblewrap sudo; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
mkdir -p /run/sshd
bash tests/servers/install.sh

if ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  rm -rf .venv
  if ! python3 -m venv .venv 2>/dev/null; then
    # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in python3-venv.
    rm -rf .venv
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3-venv
    python3 -m venv .venv
  fi
fi
# The locked versions, every file's hash checked (requirements-test.lock: the runtime
# dependencies as the image ships them, and the test tools), then the package itself.
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
  -r requirements-test.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
echo "test environment: .venv ($(.venv/bin/python --version))" >&2

bash tests/container/prepare-docker.sh
[ "${CSU_SKIP_ARM:-}" = 1 ] || bash tests/container/prepare-arm.sh
