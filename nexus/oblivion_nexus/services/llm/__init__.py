"""The model gateway: an agent's OpenAI-style chat request goes to the model its Agent names, with
the workgroup's key, within the Agent's budget, and is counted.

- ``routing``: which model and provider credential an agent's call goes to (403 for another model);
- ``budgets``: the Agent's token budgets checked before a call, and the one notice in the thread;
- ``gateway``: :class:`ModelGateway`, the call itself (plain or streamed), its usage and metrics;
- ``usage_writer``: the calls' usage rows, written just after the answers, in batches.

It sits above the other domains: it reads the registry, posts through the task flow, and scrubs
with the Tool Gateway's scrubber; nothing below imports it.
"""

from oblivion_nexus.services.llm.errors import (
    BudgetExceeded,
    ModelGatewayError,
    ModelRefused,
    ModelUnavailable,
    TaskNotAssigned,
    UpstreamFailed,
)
from oblivion_nexus.services.llm.gateway import ModelGateway

__all__ = [
    "BudgetExceeded",
    "ModelGateway",
    "ModelGatewayError",
    "ModelRefused",
    "ModelUnavailable",
    "TaskNotAssigned",
    "UpstreamFailed",
]
