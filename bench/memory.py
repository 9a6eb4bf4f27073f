"""Memory Bank: retrieval quality, local embedding speed and memory, and search latency at 100k chunks.

Each figure is printed next to a baseline measured in the same run:
- quality on the labelled set in ``bench/data/memory_retrieval.json`` (303 messages in 5 projects, 54
  questions written as people ask them): recall@5 and MRR@10 of hybrid search next to dense only;
- the local model's throughput with batching next to one text per run, and the process's memory
  before and after loading it;
- search latency at 100,000 chunks in 20 projects on the embedded engine next to the engine's own
  query for the same request (the floor), with the ratio.

Run: ``.venv/bin/python bench/memory.py`` (``--points 20000`` for a quicker run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from oblivion_nexus.integrations.embeddings import LocalEmbedder
from oblivion_nexus.stores.vectors import MemoryKind, MemoryPoint, MemoryScope, MemorySource, slack_source_id
from oblivion_nexus.stores.vectors.edge import EmbeddedVectorStore

DATA = Path(__file__).parent / "data" / "memory_retrieval.json"
COLLECTION = "tenant_bench"
IDENTIFIER = re.compile(r"\b(?:[A-Za-z]+[_-]\w+|\w*\d\w*)\b")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def message_point(m: dict[str, object]) -> MemoryPoint:
    return MemoryPoint(
        source_id=slack_source_id("T-bench", f"C-{m['project']}", str(m["ts"])),
        chunk=0,
        project_id=str(m["project"]),
        text=str(m["text"]),
        kind=MemoryKind.MESSAGE,
        source=MemorySource.SLACK,
        timestamp=float(m["ts"]),  # type: ignore[arg-type]
        author=str(m["author"]),
        link=str(m["id"]),  # the labelled id, to score answers
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def quality(embedder: LocalEmbedder, root: Path) -> None:
    data = json.loads(DATA.read_text())
    messages, questions = data["messages"], data["questions"]
    print(f"\n== retrieval quality: {len(messages)} messages, {len(questions)} questions, local model")
    store = EmbeddedVectorStore(root / "quality")
    await store.ensure_collection(COLLECTION, embedder.dimension)
    points = [message_point(m) for m in messages]
    vectors = await embedder.embed([p.text for p in points])
    await store.upsert(COLLECTION, list(zip(points, vectors, strict=True)))
    query_vectors = await embedder.embed([q["question"] for q in questions])
    all_projects = tuple(sorted({m["project"] for m in messages}))
    # Questions naming an exact identifier (an error code, ticket, function): where keywords should help.
    exact = {q["id"] for q in questions if IDENTIFIER.search(q["question"])}
    print(f"{'scope':<22} {'signal':<8} {'recall@5':>9} {'MRR@10':>7}", end="")
    print(f"   the {len(exact)} questions naming an identifier: recall@5 / MRR@10")
    for scope_name in ("the question's project", "all 5 projects"):
        for signal in ("dense", "hybrid"):
            recalls, ranks, exact_recalls, exact_ranks = [], [], [], []
            for q, vector in zip(questions, query_vectors, strict=True):
                projects = (q["project"],) if scope_name.startswith("the") else all_projects
                hits = await store.search(
                    COLLECTION,
                    MemoryScope(projects),
                    dense=vector,
                    text=q["question"] if signal == "hybrid" else None,
                    limit=10,
                )
                found = [h.point.link for h in hits]
                answers = set(q["answers"])
                recalls.append(len(answers & set(found[:5])) / len(answers))
                first = next((i for i, f in enumerate(found) if f in answers), None)
                ranks.append(0.0 if first is None else 1 / (first + 1))
                if q["id"] in exact:
                    exact_recalls.append(recalls[-1])
                    exact_ranks.append(ranks[-1])
            recall, mrr = statistics.mean(recalls), statistics.mean(ranks)
            print(f"{scope_name:<22} {signal:<8} {recall:>9.3f} {mrr:>7.3f}", end="")
            print(f"   {statistics.mean(exact_recalls):.3f} / {statistics.mean(exact_ranks):.3f}")
    await store.aclose()


def embedding_speed(embedder: LocalEmbedder) -> None:
    data = json.loads(DATA.read_text())
    short = [m["text"] for m in data["messages"]]
    long = [" ".join(short[i : i + 12]) for i in range(0, 12 * 64, 12) if i < len(short)] * 2
    print("\n== local model (all-MiniLM-L6-v2 int8, ONNX Runtime, 2 shared cores)")
    print(f"{'texts':<36} {'batched texts/s':>16} {'one-by-one texts/s':>19}")
    for name, texts in (("chat messages (~12 words)", short), ("long texts (~120 words)", long[:64])):
        start = time.perf_counter()
        embedder.embed_sync(texts)
        batched = len(texts) / (time.perf_counter() - start)
        sample = texts[:64]
        start = time.perf_counter()
        for t in sample:
            embedder.embed_sync([t])
        single = len(sample) / (time.perf_counter() - start)
        print(f"{name:<36} {batched:>16.1f} {single:>19.1f}")
    timings = []
    for question in (q["question"] for q in data["questions"]):
        start = time.perf_counter()
        embedder.embed_sync([question])
        timings.append((time.perf_counter() - start) * 1000)
    print(f"one question (what a search embeds): p50 {percentile(timings, 50):.1f} ms, ", end="")
    print(f"p99 {percentile(timings, 99):.1f} ms")


def synthetic_text(rng: random.Random, vocabulary: list[str]) -> str:
    words = rng.choices(vocabulary, k=rng.randint(6, 40))
    if rng.random() < 0.1:
        words.append(f"ERR_{rng.randint(1000, 9999)}")
    return " ".join(words)


async def latency(points_total: int, projects: int, queries: int, root: Path) -> None:
    print(
        f"\n== search latency: {points_total:,} chunks in {projects} projects, embedded engine (qdrant-edge)"
    )
    rng = random.Random(7)
    np_rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(5000)] + ["deploy", "refund", "timeout", "invoice", "release"]
    store = EmbeddedVectorStore(root / "latency")
    await store.ensure_collection(COLLECTION, 384)
    start = time.perf_counter()
    batch = 2000
    for offset in range(0, points_total, batch):
        count = min(batch, points_total - offset)
        vectors = np_rng.standard_normal((count, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunk = []
        for i in range(count):
            n = offset + i
            point = MemoryPoint(
                source_id=slack_source_id("T-bench", f"C{n % projects}", f"{1_700_000_000 + n}.000100"),
                chunk=0,
                project_id=f"project-{n % projects}",
                text=synthetic_text(rng, vocabulary),
                kind=MemoryKind.MESSAGE,
                source=MemorySource.SLACK,
                timestamp=1_700_000_000.0 + n,
                author=f"U{n % 300}",
            )
            chunk.append((point, vectors[i].tolist()))
        await store.upsert(COLLECTION, chunk)
    loaded = time.perf_counter() - start
    print(f"loaded in {loaded:.1f} s ({points_total / loaded:,.0f} points/s)")

    queries_v = np_rng.standard_normal((queries, 384)).astype(np.float32)
    queries_v /= np.linalg.norm(queries_v, axis=1, keepdims=True)
    cases = [
        (
            MemoryScope((f"project-{rng.randrange(projects)}",)),
            q.tolist(),
            synthetic_text(rng, vocabulary)[:80],
        )
        for q in queries_v
    ]
    await search_latency(store, cases, "as loaded (unoptimized segments)")
    start = time.perf_counter()
    await store.optimize(COLLECTION)
    print(f"optimized (segments merged, HNSW built) in {time.perf_counter() - start:.1f} s")
    await search_latency(store, cases, "after optimize")
    await store.aclose()


async def search_latency(
    store: EmbeddedVectorStore, cases: list[tuple[MemoryScope, list[float], str]], label: str
) -> None:
    print(f"{'search, limit 8, 1 project':<30} {'p50 ms':>7} {'p99 ms':>7}", end=" ")
    print(f"{'floor p50':>10} {'floor p99':>10} {'p99 ratio':>10}   {label}")
    for signal in ("dense", "hybrid"):
        ours, floor = [], []
        for scope, vector, text in cases:
            keyword_text = text if signal == "hybrid" else None
            start = time.perf_counter()
            await store.search(COLLECTION, scope, dense=vector, text=keyword_text, limit=8)
            ours.append((time.perf_counter() - start) * 1000)
            request = store.search_request(scope, dense=vector, text=keyword_text, limit=8)
            start = time.perf_counter()
            store.query_raw(COLLECTION, request)
            floor.append((time.perf_counter() - start) * 1000)
        ratio = percentile(ours, 99) / percentile(floor, 99)
        print(
            f"{signal:<30} {percentile(ours, 50):>7.2f} {percentile(ours, 99):>7.2f} "
            f"{percentile(floor, 50):>10.2f} {percentile(floor, 99):>10.2f} {ratio:>9.2f}x"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    before = rss_mib()
    embedder = LocalEmbedder()
    start = time.perf_counter()
    embedder.load()
    load_s = time.perf_counter() - start
    embedder.embed_sync(["warm up"])
    print(f"local model: loaded and verified in {load_s:.2f} s; RSS {before:.0f} MiB before, ", end="")
    print(f"{rss_mib():.0f} MiB after")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        await quality(embedder, root)
        embedding_speed(embedder)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"RSS after embedding: {rss_mib():.0f} MiB (peak {peak:.0f} MiB)")
        await latency(args.points, args.projects, args.queries, root)


if __name__ == "__main__":
    asyncio.run(main())
