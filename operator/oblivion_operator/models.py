"""Pydantic models of the four custom resources' specs and status."""
