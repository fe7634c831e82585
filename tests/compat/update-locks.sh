#!/usr/bin/env bash
# Make the lock files anew from pyproject.toml (run after changing a dependency or its
# range, or to take the newest releases within the ranges; then run the test command):
#   requirements.lock                    what ships: the image and `pip install` on a station
#   requirements-test.lock               the same plus the test tools: CI and .venv
#   tests/compat/requirements-lowest.lock  the lowest allowed runtime versions (the compat tier)
# All are universal (Python 3.10 to 3.13; amd64, arm64, armv7; one file for every
# platform) and carry every artifact's SHA-256, so `pip install --require-hashes -r`
# installs the same bytes on every station. Made with uv (`uv pip compile`); read by pip.
set -euo pipefail
cd "$(dirname "$0")/../.."
uv=".venv/bin/uv"
[ -x "$uv" ] || uv=uv
export UV_PYTHON_DOWNLOADS=never
common=(--upgrade --universal --generate-hashes --python-version 3.10 -c tests/compat/constraints.txt
  --custom-compile-command tests/compat/update-locks.sh --quiet)
"$uv" pip compile pyproject.toml "${common[@]}" -o requirements.lock
"$uv" pip compile pyproject.toml --extra test "${common[@]}" -o requirements-test.lock
"$uv" pip compile pyproject.toml tests/compat/tools.in --resolution lowest-direct \
  "${common[@]}" -o tests/compat/requirements-lowest.lock
echo "locks written; check them with: .venv/bin/python -m pytest -m compat tests/test_locks.py" >&2
