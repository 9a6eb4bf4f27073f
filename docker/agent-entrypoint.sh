#!/bin/sh
# Start `oblivion agent run` with the agent module given as arguments or in OBLIVION_AGENT_MODULE;
# with neither, the default agent (oblivion_agent.default:agent, model-driven, built on LangGraph).
set -eu
if [ "$#" -gt 0 ]; then
  exec oblivion agent run "$@"
fi
exec oblivion agent run "${OBLIVION_AGENT_MODULE:-oblivion_agent.default:agent}"
