"""Nexus's flows, one subpackage per domain: routes (``api``) call them, they call ``stores`` and
``integrations``, and ``pyproject.toml`` (``[tool.importlinter]``) says which domain may use which.

- ``gateway``: agents' WebSocket connections on this replica and delivering queued events to them;
  ``gateway.queueing.enqueue_event`` is the one way anything queues an event for an agent.
- ``taskflow``: ClickUp and Slack webhooks accepted and queued, then each job carried out by the
  worker: a task summoning an agent becomes a Slack thread, and every message is mirrored once.
- ``agent_tasks``: what an agent does to its task over the REST API: read it, post, change state.
- ``auth``: agents' access tokens: issued, verified, revoked; the token endpoint's rate limits.
- ``registry``: workgroups, projects, agents and tool credentials as the operator declares them,
  and the task states a project maps to ClickUp statuses.
- ``safeguards``: per-agent brakes every replica shares through Redis: the circuit breaker on
  agents' messages and idempotency keys.
- ``memory`` (the Memory Bank), ``tools`` (the Tool Gateway), ``models`` (model usage and cost).

Two questions a newcomer asks first:

- Where is an unacked event redelivered? In Redis: the claim script of ``stores/inbox.py``
  (``_CLAIM``) gives an event whose holding connection is gone to the next connection that claims;
  ``gateway/dispatch.py`` claims when a connection opens and after every wake-up.
- Where does a ClickUp comment become a Slack reply? ``taskflow/jobs.py`` routes the webhook job to
  ``taskflow/comments.py``, which posts it in the thread through ``taskflow/mirror.py``
  (``mirror_clickup_comment``); the other way round is ``taskflow/replies.py``.
"""
