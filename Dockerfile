# circadian-scp-upload agent image, for linux/amd64, linux/arm64 and linux/arm/v7.
# It needs BuildKit (for the optional CA secret below):
#
#   docker build -t circadian-scp-upload:1.2.0 .             # Docker CE 23 and later
#   DOCKER_BUILDKIT=1 docker build -t circadian-scp-upload:1.2.0 .  # Debian 12 docker.io
#
# Behind a TLS-intercepting proxy, hand pip the proxy's CA bundle as a BuildKit secret
# (it is used during the build only and never stored in a layer):
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .
#
# Another base (any Debian-like image with python3 and python3-venv, also a local one
# where no registry is reachable):
#   DOCKER_BUILDKIT=1 docker build --build-arg BASE_IMAGE=csu-local/debian-python:bookworm .
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    SODIUM_INSTALL=system
RUN python3 -m venv /opt/venv \
    && dpkg-query -W -f '${Package}\n' | sort >/tmp/base-packages
# The dependencies first, in a layer that only requirements.lock invalidates, so a
# rebuild on the same machine skips this step. They come from the lock file (exact
# versions, every file's SHA-256 checked: the same bytes on every station; update it
# with tests/compat/update-locks.sh).
# Wheels only, where every dependency publishes one for this platform (amd64, arm64).
# Where one does not (PyNaCl and cffi on 32-bit ARM, linux/arm/v7), this stage gets a C
# compiler and headers and builds them from their locked source archives, PyNaCl against
# Debian's libsodium (SODIUM_INSTALL=system) rather than compiling its bundled copy
# under emulation (the lock holds PyNaCl 1.5 there: 1.6 needs libsodium 1.0.19, Debian
# 12 has 1.0.18). The Debian libraries the built extensions link to are listed for the
# final stage, which installs those and never a compiler.
COPY requirements.lock /src/
RUN --mount=type=secret,id=ca,required=false \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    lock="--require-hashes -r /src/requirements.lock"; \
    if ! /opt/venv/bin/pip install -q --only-binary=:all: $lock; then \
      echo "no wheel for some dependency on $(dpkg --print-architecture): building from source" >&2; \
      headers="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"; \
      dev=""; [ -e "$headers/Python.h" ] || dev=python3-dev; \
      apt-get update -q; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gcc libc6-dev libffi-dev libsodium-dev make pkg-config $dev >/dev/null; \
      /opt/venv/bin/pip install -q --prefer-binary $lock; \
    fi; \
    find /opt/venv -name '*.so*' -type f -exec ldd {} + 2>/dev/null \
      | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
      | while read -r lib; do \
          dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "$(readlink -f "$lib")" 2>/dev/null || true; \
        done \
      | cut -d: -f1 | sort -u | comm -23 - /tmp/base-packages >/opt/venv/debian-runtime-packages
# Then the package itself (its dependencies are already there: --no-deps); running its
# command proves that every extension loads.
COPY pyproject.toml README.md /src/
COPY agent /src/agent
RUN --mount=type=secret,id=ca,required=false \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/venv/bin/pip install -q --no-deps /src; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/python -c 'import nacl.bindings, bcrypt, cryptography, pydantic_core'; \
    /opt/venv/bin/circadian-scp-upload exit-codes >/dev/null; \
    find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +; \
    /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${BASE_IMAGE}
ARG UID=10001
ARG GID=10001
ARG VERSION=1.2.0
# The locked versions of the libraries that carry the SSH and the settings (a test keeps
# these equal to requirements.lock; `circadian-scp-upload --version` says the same).
LABEL io.github.circadian-scp-upload.paramiko="5.1.0" \
      io.github.circadian-scp-upload.cryptography="50.0.2" \
      io.github.circadian-scp-upload.pydantic="2.14.4" \
      org.opencontainers.image.title="circadian-scp-upload" \
      org.opencontainers.image.description="Uploads each finished day of instrument data over SSH, verified before local removal" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/circadian-scp-upload/circadian-scp-upload"
RUN groupadd --gid "${GID}" csu \
    && useradd --uid "${UID}" --gid "${GID}" --home-dir /home/csu --create-home \
       --shell /usr/sbin/nologin csu \
    && mkdir -p /data /state \
    && chown csu:csu /data \
    && chmod 1777 /state
# Runtime libraries of extensions built from source (on linux/arm/v7: libsodium23),
# before the virtualenv so that a code change does not repeat this step.
COPY --from=build /opt/venv/debian-runtime-packages /tmp/
RUN if [ -s /tmp/debian-runtime-packages ]; then \
      apt-get update -q \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
         $(cat /tmp/debian-runtime-packages) >/dev/null \
      && apt-get clean \
      && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi \
    && rm /tmp/debian-runtime-packages
COPY --from=build /opt/venv /opt/venv
RUN PYTHONDONTWRITEBYTECODE=1 /opt/venv/bin/circadian-scp-upload exit-codes >/dev/null
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CSU_SRC=/data \
    CSU_STATE_DIR=/state/agent
# What the agent learns (status, counters, the station's key and known_hosts made by
# `enroll`) lives in a volume, so a restart or an upgrade forgets nothing. /state is
# open to any uid (1777, like /tmp) so that `--user` as the data's owner works on a fresh
# volume; the agent makes /state/agent its own, 0700.
VOLUME /state
USER csu
WORKDIR /home/csu
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["circadian-scp-upload", "healthcheck"]
ENTRYPOINT ["circadian-scp-upload"]
CMD ["run"]
