"""The audit hash chain finds an edited, deleted, reordered, spliced-in or truncated record."""

from __future__ import annotations

import dataclasses

from oblivion_nexus.services.tools.audit_chain import GENESIS, ChainedRecord, chain_next, record_hash, verify


def chain(n: int) -> list[ChainedRecord]:
    records: list[ChainedRecord] = []
    for i in range(n):
        records.append(
            chain_next(records[-1] if records else None, {"action": f"issues.get#{i}", "outcome": "ok"})
        )
    return records


def head(records: list[ChainedRecord]) -> tuple[int, str]:
    return records[-1].seq, records[-1].hash


def test_an_intact_chain_verifies_and_starts_at_genesis() -> None:
    records = chain(5)
    assert records[0].seq == 1
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert verify(records, head(records)) == []


def test_an_edited_field_is_found_at_its_record() -> None:
    records = chain(5)
    records[2] = dataclasses.replace(records[2], fields={**records[2].fields, "outcome": "denied"})
    breaks = verify(records, head(records))
    assert [(b.seq, "edited" in b.reason) for b in breaks] == [(3, True)]


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link() -> None:
    records = chain(5)
    fields = {**records[2].fields, "outcome": "denied"}
    records[2] = dataclasses.replace(
        records[2], fields=fields, hash=record_hash(3, records[2].prev_hash, fields)
    )
    breaks = verify(records, head(records))
    assert [(b.seq, b.reason) for b in breaks] == [(4, "previous hash does not match the record before it")]


def test_a_deleted_row_is_found() -> None:
    records = chain(5)
    del records[1]
    breaks = verify(records, head(records))
    assert breaks
    assert breaks[0].seq == 3
    assert "missing or reordered" in breaks[0].reason


def test_removing_the_newest_rows_is_caught_by_the_head() -> None:
    records = chain(5)
    full_head = head(records)
    assert verify(records[:3]) == []  # a shorter chain is valid on its own...
    breaks = verify(records[:3], full_head)  # ...but not against the head
    assert len(breaks) == 1
    assert "newest rows removed" in breaks[0].reason


def test_a_fully_emptied_table_is_caught_by_the_head() -> None:
    records = chain(2)
    assert verify([], head(records))[0].seq == 0
