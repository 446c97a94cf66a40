# Both controllers from one build: `docker build -f docker/controllers.Dockerfile --target workspace-controller .`
# or `--target gpu-provisioner`. Slim, non-root, read-only-root-filesystem friendly.
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11) and its venv module; `make images` passes a
# Debian bookworm made locally with mmdebstrap (e2e/images), a normal build uses the public default.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY presets/catalog ./presets/catalog
# Bytecode is compiled here, checked by hash rather than mtime, so the read-only root filesystem costs
# nothing at start: compiling every module in the pod instead left the gpu-provisioner 70 MiB larger
# (200 against 130 MiB RSS), the parser's garbage fragmenting the heap, and slowed each start.
RUN python3 -m venv /opt/kaito \
 && /opt/kaito/bin/pip install --no-compile -c constraints.txt . \
 && /opt/kaito/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash /opt/kaito/lib

FROM ${BASE_IMAGE} AS base
COPY --from=build /opt/kaito /opt/kaito
COPY presets/catalog /opt/kaito/catalog
ENV PATH=/opt/kaito/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    KAITO_CATALOG_DIR=/opt/kaito/catalog
USER 65532:65532

FROM base AS workspace-controller
EXPOSE 8080 8081 9443
ENTRYPOINT ["kaito-workspace-controller"]

FROM base AS gpu-provisioner
EXPOSE 8080 8081
ENTRYPOINT ["gpu-provisioner"]
