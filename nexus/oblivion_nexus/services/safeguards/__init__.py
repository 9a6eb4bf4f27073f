"""Per-agent brakes every Nexus replica shares through Redis: ``circuit_breaker`` mutes an agent
that posts too fast, ``idempotency`` makes a retried write act once. Both are purged when an agent
is deleted (``auth/revocation.py``)."""
