# circadian-scp-upload agent image.
#
#   docker build -t circadian-scp-upload .
#
# Behind a TLS-intercepting proxy, hand pip the proxy's CA bundle as a BuildKit secret
# (it is used during the build only and never stored in a layer):
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .
#
# Another base (any Debian-like image with python3 and python3-venv):
#   docker build --build-arg BASE_IMAGE=my-registry/python:3.12-slim .
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY pyproject.toml README.md /src/
COPY agent /src/agent
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/venv/bin/pip install /src \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${BASE_IMAGE}
ARG UID=10001
ARG GID=10001
ARG VERSION=1.0.0
LABEL org.opencontainers.image.title="circadian-scp-upload" \
      org.opencontainers.image.description="Uploads each finished day of instrument data over SSH, verified before local removal" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/circadian-scp-upload/circadian-scp-upload"
RUN groupadd --gid "${GID}" csu \
    && useradd --uid "${UID}" --gid "${GID}" --home-dir /home/csu --create-home \
       --shell /usr/sbin/nologin csu \
    && mkdir -p /data \
    && chown csu:csu /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CSU_SRC=/data \
    CSU_STATE_DIR=/tmp/circadian-scp-upload
USER csu
WORKDIR /home/csu
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["circadian-scp-upload", "healthcheck"]
ENTRYPOINT ["circadian-scp-upload"]
CMD ["run"]
