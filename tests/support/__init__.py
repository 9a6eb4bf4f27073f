"""Helpers the tests share, imported like any module (never from a ``conftest.py``).

- ``waiting``: ``eventually`` (and ``eventually_sync``), the one way to wait for a condition with a
  deadline, failing with what was awaited; ``WaitTimeout``.
- ``servers``: ``free_port``, ``serving_asgi`` (an ASGI app under uvicorn in the test's loop) and
  ``BackgroundServer``, the base of every fake that serves from its own thread (``LoopbackServer``
  for an ASGI app; the fake Slack).
- ``processes``: ``Proc`` (a child process in its own process group, watched by waits),
  ``oblivion_executable``, ``run_oblivion``.
- ``stores``: the machine's PostgreSQL and Redis for tests: ``scratch_database``,
  ``drop_redis_prefix``, ``PrivateRedis``.
- ``nexus``: a real Nexus in-process (``running_nexus``, ``nexus_settings``, ``migrate_database``) or
  as ``oblivion nexus serve`` (``nexus_process``).
"""
