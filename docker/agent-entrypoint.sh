#!/bin/sh
# Start `oblivion agent run` with the agent module given as arguments or in OBLIVION_AGENT_MODULE.
set -eu
if [ "$#" -gt 0 ]; then
  exec oblivion agent run "$@"
fi
if [ -z "${OBLIVION_AGENT_MODULE:-}" ]; then
  echo "oblivion-agent: no agent given; pass module:attr as an argument or set OBLIVION_AGENT_MODULE" >&2
  exit 64
fi
exec oblivion agent run "$OBLIVION_AGENT_MODULE"
