# syntax=docker/dockerfile:1.7
# The operator: `oblivion operator` (kopf). Built from the repository root:
#   docker build -f docker/operator.Dockerfile -t oblivion/operator:dev .
# Same two stages as Nexus: the wheel and a virtualenv with the `operator` extra are built in the
# builder; the final image holds only that virtualenv, the CRDs inside it, and a non-root user.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The packages come from the hash-pinned lock of this image's extra, never resolved anew: two builds
# of the same commit ship the same files. The build backend is locked too (requirements/build.txt).
COPY requirements/build.txt requirements/operator.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/build.txt \
 && python -m venv /opt/oblivion \
 && /opt/oblivion/bin/pip install --require-hashes --no-deps -r requirements/operator.txt
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
LABEL org.opencontainers.image.title="oblivion-operator" \
      org.opencontainers.image.description="Oblivion operator: Workgroups, Projects, Agents, ToolCredentials" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/oblivion/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/oblivion /opt/oblivion
RUN groupadd --system --gid 10001 oblivion \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin oblivion
USER 10001:10001
EXPOSE 8080
# kopf's liveness endpoint (`--liveness`, as the chart starts it).
HEALTHCHECK --interval=20s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["oblivion"]
CMD ["operator", "--liveness", "http://0.0.0.0:8080/healthz"]
