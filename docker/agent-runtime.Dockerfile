# syntax=docker/dockerfile:1.7
# The agent runtime: `oblivion agent run module:attr`, the module taken from the arguments or from
# OBLIVION_AGENT_MODULE (an Agent can set it in spec.env); with neither it runs the default agent,
# oblivion_agent.default:agent (model-driven, LangGraph). Built from the repository root:
#   docker build -f docker/agent-runtime.Dockerfile -t oblivion/agent:dev .
# Only the `agent-langgraph` extra is installed (the SDK and LangGraph): an agent pod holds no
# operator or Nexus dependencies. The examples' agents are copied to /app, which is on PYTHONPATH
# (OBLIVION_AGENT_MODULE=examples.agents.echo:agent runs the echo agent); your own image can start
# `FROM` this one, COPY its agent modules there and set OBLIVION_AGENT_MODULE.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The packages come from the hash-pinned lock of this image's extra, never resolved anew: two builds
# of the same commit ship the same files. The build backend is locked too (requirements/build.txt).
COPY requirements/build.txt requirements/agent-langgraph.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/build.txt \
 && python -m venv /opt/oblivion \
 && /opt/oblivion/bin/pip install --require-hashes --no-deps -r requirements/agent-langgraph.txt
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
LABEL org.opencontainers.image.title="oblivion-agent" \
      org.opencontainers.image.description="Oblivion agent runtime" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/oblivion/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app
COPY --from=builder /opt/oblivion /opt/oblivion
COPY examples/agents /app/examples/agents
COPY docker/agent-entrypoint.sh /usr/local/bin/oblivion-agent
RUN groupadd --system --gid 10001 oblivion \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin oblivion
USER 10001:10001
WORKDIR /app
# No HEALTHCHECK: an agent serves nothing; Nexus tracks its presence over the WebSocket.
ENTRYPOINT ["/usr/local/bin/oblivion-agent"]
