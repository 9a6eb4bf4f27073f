"""What ``/readyz``'s memory check says: ok without mismatches, else every mismatched collection with
both dimensions, and the fix once."""

from __future__ import annotations

from oblivion_nexus.services.memory.readiness import DimensionMismatch, readiness_message


def test_no_mismatch_is_ok() -> None:
    assert readiness_message([]) == "ok"


def test_each_mismatch_names_its_collection_and_both_dimensions_and_the_fix_follows_once() -> None:
    message = readiness_message(
        [DimensionMismatch("tenant_backend", 384, 1536), DimensionMismatch("tenant_web__shop", 384, 1536)]
    )
    assert message.startswith(
        "collection tenant_backend holds 384-dimensional vectors but the worker's embedding model "
        "makes 1536-dimensional ones; collection tenant_web__shop holds 384-dimensional"
    )
    assert message.count("configure the embedding model the collection was built with") == 1
    assert message.endswith("then restart the worker")
