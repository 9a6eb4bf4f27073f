"""Helpers the test suite uses to reach outside tools (kubectl, helm) without a system install."""
