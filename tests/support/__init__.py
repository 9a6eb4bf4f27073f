"""Helpers the tests share, imported like any module — never from a ``conftest.py`` (conftests hold
fixtures only; ``tests/unit/test_test_tree.py`` fails on a conftest import).

Waiting, servers, processes, data stores:

- ``waiting``: ``eventually`` (``eventually_sync`` in synchronous code), the one way to wait for a
  condition with a deadline, failing with ``WaitTimeout`` naming what was awaited (or the watched
  child process that died).
- ``servers``: ``free_port``, ``serving_asgi`` (an ASGI app under uvicorn in the test's loop) and
  ``BackgroundServer``, the base of every fake serving from its own thread (``LoopbackServer`` for an
  ASGI app; the fake Slack).
- ``processes``: ``Proc`` (a child process in its own process group, with a log file, watchable by a
  wait), ``oblivion_executable``, ``run_oblivion``, ``agent_process`` (``oblivion agent run``).
- ``stores``: the machine's PostgreSQL and Redis for tests: ``scratch_database``,
  ``drop_redis_prefix``, ``PrivateRedis`` (a ``redis-server`` a test may stop).
- ``nexus``: a real Nexus in-process (``running_nexus``, ``nexus_settings``, ``migrate_database``) or
  as ``oblivion nexus serve`` (``nexus_process``).
- ``registry``: agents registered through the registry API and their access tokens.

The worlds of the integration suites (each built by its folder's fixtures):

- ``taskflow``: ``FlowStack`` (Nexus with the fake Slack and ClickUp), ``register_team``, ``settle``,
  ``start_task``.
- ``memory``: ``MemoryWorld`` on a ``FlowStack`` (projects in two workgroups, an agent on each, an
  unmapped channel) and ``search``/``found_texts`` as those agents search the Memory Bank.
- ``gateway``: Nexus replicas and WebSocket agents; also a pytest plugin (``tests/conftest.py``)
  providing ``hub_resources``, ``nexus_factory`` and ``nexus``.
- ``fakes``: a pytest plugin (``tests/conftest.py``) providing ``fake_slack`` and ``fake_clickup``.
- ``agent_tasks``: ``TaskWorld`` (``task_world`` builds one), tracked tasks assigned to agents.
- ``agent_runtime``: ``RuntimeAgent``, an agent as the SDK and ``oblivion agent run`` reach Nexus.
- ``tool_gateway``: ``ToolWorld``, the fake GitHub behind a credential, approvals clicked in Slack.
- ``model_gateway``: model credentials on the fake model APIs, agents given a model, their calls
  (plain and streamed) and their usage as the operator reads it.
- ``operator``: ``start_operator``, ``NexusAdmin``, the ``Ready`` condition checks.
- ``chart``: ``render_chart`` and the chart's scenarios; ``crd_schema``: the CRDs' schemas and examples.

Fakes of outside services live in ``tests/fakes/`` (Slack, ClickUp, GitHub, models, embeddings, an
OTLP trace receiver, and the agent-facing side of Nexus for the SDK's unit tests).
"""
