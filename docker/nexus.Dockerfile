# syntax=docker/dockerfile:1.7
# Nexus: `oblivion nexus serve|worker|migrate`. Built from the repository root:
#   docker build -f docker/nexus.Dockerfile -t oblivion/nexus:dev .
# The builder stage makes the oblivion wheel and a virtualenv with the `nexus` extra; the final stage
# copies only that virtualenv onto the same pinned slim base: no compiler, no sources, no pip cache.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The packages come from the hash-pinned lock of this image's extra, never resolved anew: two builds
# of the same commit ship the same files. The build backend is locked too (requirements/build.txt).
COPY requirements/build.txt requirements/nexus.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/build.txt \
 && python -m venv /opt/oblivion \
 && /opt/oblivion/bin/pip install --require-hashes --no-deps -r requirements/nexus.txt
COPY pyproject.toml README.md ./
COPY crds ./crds
COPY common ./common
COPY operator ./operator
COPY nexus ./nexus
COPY agent-runtime ./agent-runtime
COPY cli ./cli
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/oblivion/bin/pip install --no-deps /dist/oblivion-*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="oblivion-nexus" \
      org.opencontainers.image.description="Oblivion Nexus: webhooks, queue worker, agent gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/oblivion/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OBLIVION_HOST=0.0.0.0 \
    OBLIVION_PORT=8080
COPY --from=builder /opt/oblivion /opt/oblivion
RUN groupadd --system --gid 10001 oblivion \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin oblivion
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OBLIVION_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["oblivion"]
CMD ["nexus", "serve"]
