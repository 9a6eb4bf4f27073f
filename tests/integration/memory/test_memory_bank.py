"""The Memory Bank end to end on the local model and the embedded engine: what is remembered is
found by its project, an edit replaces it, a deletion and a departing author's request remove it,
and nothing crosses into another project or workgroup."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oblivion_nexus.integrations.embeddings import LocalEmbedder
from oblivion_nexus.services.memory import MemoryBank, MemoryText
from oblivion_nexus.stores.vectors import (
    MemoryKind,
    MemoryScope,
    MemorySource,
    VectorDimensionMismatch,
    clickup_comment_source_id,
    collection_name,
    project_collection_name,
    slack_source_id,
)
from oblivion_nexus.stores.vectors.edge import EmbeddedVectorStore

BACKEND = collection_name("backend")
MOBILE = collection_name("mobile")


def slack(project: str, ts: str, text: str, author: str = "U-ana") -> MemoryText:
    return MemoryText(
        source_id=slack_source_id("T1", f"C-{project}", ts),
        project_id=project,
        text=text,
        kind=MemoryKind.MESSAGE,
        source=MemorySource.SLACK,
        timestamp=float(ts),
        author=author,
        thread_ts="100.000100",
        link=f"https://example.slack.com/archives/C-{project}/p{ts.replace('.', '')}",
    )


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    model = LocalEmbedder()
    model.load()
    return model


@pytest.fixture(params=[False, True], ids=["dense", "hybrid"])
async def bank(
    request: pytest.FixtureRequest, embedder: LocalEmbedder, tmp_path: Path
) -> AsyncIterator[MemoryBank]:
    made = MemoryBank(embedder, EmbeddedVectorStore(tmp_path), hybrid=request.param)
    for collection in (BACKEND, MOBILE, project_collection_name("backend", "secret")):
        await made.ensure_collection(collection)
    yield made
    await made.store.aclose()


async def _texts(bank: MemoryBank, collection: str, projects: tuple[str, ...], query: str) -> list[str]:
    return [h.point.text for h in await bank.search(collection, MemoryScope(projects), query, limit=3)]


async def test_a_reply_is_found_by_its_project_and_by_no_other_project_or_workgroup(bank: MemoryBank) -> None:
    await bank.remember(
        BACKEND, [slack("payments", "101.0", "The refund worker crashes with ERR_LEDGER_7731")]
    )
    await bank.remember(BACKEND, [slack("search", "102.0", "Reindex finished in 40 minutes")])
    assert (await _texts(bank, BACKEND, ("payments",), "why does the refund worker crash?"))[0].startswith(
        "The refund worker crashes"
    )
    assert "The refund worker crashes with ERR_LEDGER_7731" not in await _texts(
        bank, BACKEND, ("search",), "refund worker crash"
    )
    assert await _texts(bank, MOBILE, ("payments",), "refund worker crash") == []


async def test_an_edit_overwrites_and_a_deletion_removes(bank: MemoryBank) -> None:
    original = slack("payments", "200.0", "Payouts run at 01:00 UTC")
    await bank.remember(BACKEND, [original])
    await bank.remember(BACKEND, [slack("payments", "200.0", "Payouts now run at 03:30 UTC")])
    assert await _texts(bank, BACKEND, ("payments",), "when do payouts run?") == [
        "Payouts now run at 03:30 UTC"
    ]
    await bank.forget(BACKEND, original.source_id)
    assert await _texts(bank, BACKEND, ("payments",), "when do payouts run?") == []


async def test_a_long_comment_is_stored_as_overlapping_chunks_and_a_shorter_edit_drops_the_rest(
    bank: MemoryBank,
) -> None:
    long_text = " ".join(f"step{i} of the migration runbook" for i in range(100))  # 500 words
    comment = MemoryText(
        source_id=clickup_comment_source_id("90120"),
        project_id="payments",
        text=long_text,
        kind=MemoryKind.COMMENT,
        source=MemorySource.CLICKUP,
        timestamp=300.0,
        task_id="86abc",
    )
    stored = await bank.remember(BACKEND, [comment])
    assert stored.points == 4  # 180-word chunks stepping 150 words over 500 words
    assert await bank.store.count(BACKEND, MemoryScope(("payments",), task_id="86abc")) == 4
    await bank.remember(BACKEND, [MemoryText(**{**_fields(comment), "text": "runbook replaced by a script"})])
    assert await bank.store.count(BACKEND, MemoryScope(("payments",), task_id="86abc")) == 1


def _fields(text: MemoryText) -> dict[str, object]:
    return {name: getattr(text, name) for name in MemoryText.__dataclass_fields__}


async def test_forgetting_a_person_removes_their_points_in_every_collection(bank: MemoryBank) -> None:
    await bank.remember(BACKEND, [slack("payments", "401.0", "I own the fraud rules", author="U-leaver")])
    await bank.remember(MOBILE, [slack("app", "402.0", "I own the release train", author="U-leaver")])
    await bank.remember(BACKEND, [slack("payments", "403.0", "Priya reviews fraud rules", author="U-stays")])
    searched = await bank.forget_author("U-leaver")
    assert set(searched) >= {BACKEND, MOBILE}
    assert await _texts(bank, BACKEND, ("payments",), "who owns the fraud rules") == [
        "Priya reviews fraud rules"
    ]
    assert await _texts(bank, MOBILE, ("app",), "who owns the release train") == []


async def test_empty_and_oversized_texts_are_skipped_with_a_logged_reason(
    bank: MemoryBank, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oblivion_nexus.services.memory.bank")
    result = await bank.remember(
        BACKEND, [slack("payments", "501.0", "   "), slack("payments", "502.0", "x" * 100_001)]
    )
    assert result.points == 0
    assert [reason for _, reason in result.skipped] == ["no text", "longer than 100000 characters"]
    assert "no text" in caplog.text


async def test_a_collection_made_for_another_model_is_refused_at_start(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    store = EmbeddedVectorStore(tmp_path)
    await store.ensure_collection(BACKEND, 1536)
    with pytest.raises(
        VectorDimensionMismatch, match="1536-dimensional vectors but the embedding model makes 384"
    ):
        await MemoryBank(embedder, store).ensure_collection(BACKEND)
    await store.aclose()


async def test_bad_queries_are_refused(bank: MemoryBank) -> None:
    with pytest.raises(ValueError, match="query is empty"):
        await bank.search(BACKEND, MemoryScope(("payments",)), "  ")
    with pytest.raises(ValueError, match="limit must be between 1 and 50"):
        await bank.search(BACKEND, MemoryScope(("payments",)), "refunds", limit=500)
