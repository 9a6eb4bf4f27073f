"""Agents' access tokens: ``tokens`` issues and verifies them (``POST /oauth/token``, the
gateway), ``revocation`` keeps them bound to an agent that still exists at the same credentials,
``token_limits`` rate-limits the token endpoint."""
