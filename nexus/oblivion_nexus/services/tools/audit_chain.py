"""The audit trail's hash chain: each record carries the hash of the one before it, per workgroup.

A record's hash covers its sequence number, the previous record's hash and every field, serialised
canonically (sorted keys, no spaces, UTF-8), so changing any field, deleting or reordering rows, or
splicing in a row breaks the chain at that point. Deleting the newest rows leaves a shorter chain that
is valid on its own; the workgroup's head (last sequence number and hash, kept apart from the rows)
catches that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def record_hash(seq: int, prev_hash: str, fields: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{seq}\n{prev_hash}\n".encode())
    digest.update(canonical(fields))
    return digest.hexdigest()


@dataclass(frozen=True)
class ChainedRecord:
    seq: int
    prev_hash: str
    hash: str
    fields: Mapping[str, Any]


def chain_next(last: ChainedRecord | None, fields: Mapping[str, Any]) -> ChainedRecord:
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    return ChainedRecord(seq=seq, prev_hash=prev, hash=record_hash(seq, prev, fields), fields=dict(fields))


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


def verify(records: Iterable[ChainedRecord], head: tuple[int, str] | None = None) -> list[Break]:
    """Every place the chain is broken, in order; empty when the records are intact."""
    breaks: list[Break] = []
    expected_seq, expected_prev = 1, GENESIS
    last: ChainedRecord | None = None
    for record in records:
        if record.seq != expected_seq:
            breaks.append(Break(record.seq, f"expected record {expected_seq}: rows missing or reordered"))
        elif record.prev_hash != expected_prev:
            breaks.append(Break(record.seq, "previous hash does not match the record before it"))
        if record_hash(record.seq, record.prev_hash, record.fields) != record.hash:
            breaks.append(Break(record.seq, "contents do not match the record's hash: edited"))
        expected_seq, expected_prev, last = record.seq + 1, record.hash, record
    if head is not None:
        head_seq, head_hash = head
        if last is None or last.seq != head_seq or last.hash != head_hash:
            at = last.seq if last else 0
            breaks.append(
                Break(at, f"chain ends at record {at} but the head says {head_seq}: newest rows removed")
            )
    return breaks
