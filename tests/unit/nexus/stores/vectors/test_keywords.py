"""The keyword vector keeps exact identifiers findable and weighs terms like BM25."""

from __future__ import annotations

from oblivion_nexus.stores.vectors.keywords import document_vector, query_vector, term_index, terms


def test_identifiers_are_kept_whole_and_also_split_into_their_parts() -> None:
    found = terms("parse_invoice_total raised ERR_CONN_RESET on PROJ-1234 in parseInvoiceTotal")
    for whole in ("parse_invoice_total", "err_conn_reset", "proj-1234", "parseinvoicetotal"):
        assert whole in found
    for part in ("parse", "invoice", "total", "conn", "reset", "proj", "1234"):
        assert part in found


def test_question_words_carry_no_weight() -> None:
    assert terms("What is the status of the deploy?") == ["status", "deploy"]


def test_term_indices_are_stable_unsigned_32_bit_numbers() -> None:
    # Indices are persisted in the collection: they must not change between processes or releases.
    assert term_index("deploy") == 0xBB4CE112
    assert term_index("err_conn_reset") != term_index("err_conn_resets")
    assert all(0 <= term_index(t) < 2**32 for t in ("x", "deploy", "проект", "v2.3.1"))


def test_a_repeated_term_weighs_more_but_saturates() -> None:
    assert len(document_vector("timeout timeout").indices) == 1
    one = document_vector("timeout").values[0]
    three = document_vector("timeout timeout timeout").values[0]
    thirty = document_vector(" ".join(["timeout"] * 30)).values[0]
    assert one < three < thirty < 1.2 + 1  # BM25's term weight never exceeds k1 + 1


def test_a_query_vector_has_each_distinct_term_once_with_weight_one() -> None:
    vector = query_vector("timeout timeout billing")
    assert sorted(vector.indices) == sorted({term_index("timeout"), term_index("billing")})
    assert vector.values == (1.0, 1.0)
    assert list(vector.indices) == sorted(vector.indices)
