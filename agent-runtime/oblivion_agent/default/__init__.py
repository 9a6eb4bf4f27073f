"""The default agent: a model-driven team member built on LangGraph, run by the agent image when no
other module is given (``oblivion agent run oblivion_agent.default:agent``).

On ``TASK_ASSIGNED`` it says it is on the task and moves it to ``IN_PROGRESS`` before any model call,
rebuilds what it knows from the task and its thread, looks up what the project remembers, then lets
the Agent's model work with the Agent's tools until it asks a person (``BLOCKED_ON_HUMAN``, the
question in the thread) or finishes (a summary, ``DONE``). A person's reply (``CONTEXT_UPDATE``)
resumes the task from the thread. A run stops, saying why, after ``OBLIVION_AGENT_MAX_STEPS`` model
calls or when the model budget is spent. Needs the ``agent-langgraph`` extra.
"""

from __future__ import annotations

from oblivion_agent.default._handlers import acknowledgement, create_agent
from oblivion_agent.default._settings import DefaultAgentSettings, load_default_settings

agent = create_agent()

__all__ = ["DefaultAgentSettings", "acknowledgement", "agent", "create_agent", "load_default_settings"]
