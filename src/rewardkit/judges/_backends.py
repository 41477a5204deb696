"""Where the diversity judges' embeddings are computed: ``backend: local | ray | http``.

Every backend is an *encoder*: ``encode(texts, precision=..., exact=...)`` returns unit rows,
``resolve(precision)`` says which precision that is, ``close()`` releases what it holds. The
judges and the ``embedding_diversity`` diagnostic only see that interface, so a partition is
computed the same way whichever backend produced the vectors; the driver keeps only the
pairwise scores and the partition (a few milliseconds for thousands of completions).

* ``local`` - :class:`~rewardkit.judges._embedding.TextEmbedder` in this process (the
  default; on CPU it sets its torch thread count, ``threads:``).
* ``ray`` - :class:`RayEncoderPool`: ``ray_replicas`` Ray actors, each holding a
  ``TextEmbedder`` with ``ray_num_cpus`` / ``ray_num_gpus``, embed length-balanced shards of a
  step's new texts in parallel. The pool joins the Ray cluster this process already runs in (verl
  starts one; ``ray.init()`` is called only when Ray is not initialised, which connects to
  ``RAY_ADDRESS`` or starts a local cluster), is created on first use, reused every step, and
  killed by ``close()`` (the pipeline's, so the trainer's).
* ``http`` - :class:`HttpEncoder`: an OpenAI-compatible ``POST {http_url}/embeddings`` endpoint
  (vLLM, SGLang, TEI and Infinity serve one; ``python -m rewardkit.judges._embed_server``
  serves a local sentence-transformers folder), in batches of ``http_batch_size`` texts,
  ``http_concurrency`` requests at a time, each with a timeout and bounded retries.

Remote failures raise :class:`~rewardkit._errors.JudgeUnavailableError`; with
``on_unavailable: floor`` the judge turns that into "every rollout gets the floor" for the step
(and diagnostics skip their value), so no rollout is ever lost.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field, model_validator

from rewardkit._components import ComponentConfig
from rewardkit._errors import ConfigError, ConfigFieldError, JudgeUnavailableError
from rewardkit._rollout import encodable_text
from rewardkit.judges._embedding import _text_key, cached_rows, get_embedder

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BackendConfig",
    "Encoder",
    "HttpEncoder",
    "RayEncoderPool",
    "build_encoder",
    "unavailable_floor_warning",
]

logger = logging.getLogger("rewardkit")

Backend = Literal["local", "ray", "http"]


class Encoder(Protocol):
    """What judges and diagnostics need from an embedding backend."""

    def encode(
        self, texts: Sequence[str], *, precision: str | None = None, exact: bool = False
    ) -> np.ndarray: ...

    def resolve(self, precision: str | None = None) -> str: ...

    def close(self) -> None: ...


class BackendConfig(ComponentConfig):
    """Where embeddings are computed (shared by the judges and ``embedding_diversity``)."""

    backend: Backend = Field(
        default="local",
        description="Where embeddings are computed. local: in this process (TRL's reward "
        "functions run next to the GPU). ray: a pool of Ray actors on the Ray cluster this "
        "process runs in (verl; ray.init() only if Ray is not initialised), created on first "
        "use, reused every step, stopped by close(). http: an OpenAI-compatible /v1/embeddings "
        "server (vLLM, SGLang, TEI, Infinity). The driver only scores pairs and partitions.",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="Torch threads of the encoder on CPU (local backend, and each Ray actor). "
        "Unset: the CPUs the process may use (Ray's assignment in a Ray worker that has one, "
        "else its CPU affinity; a Ray actor: ray_num_cpus), so Ray's OMP_NUM_THREADS=1 does not "
        "leave it on one thread. On one thread with a large batch it warns once.",
    )
    ray_replicas: int = Field(
        default=2, ge=1, description="backend ray: number of encoder actors (shards per step)."
    )
    ray_num_cpus: float = Field(
        default=1.0, ge=0, description="backend ray: CPUs reserved per actor (its torch threads)."
    )
    ray_num_gpus: float = Field(
        default=0.0,
        ge=0,
        description="backend ray: GPUs per actor (fractions share a GPU); > 0 embeds on cuda.",
    )
    ray_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="backend ray: seconds to wait for a step's shards (and for actors to "
        "start) before the backend counts as unavailable.",
    )
    http_url: str | None = Field(
        default=None,
        description="backend http: the server's OpenAI base URL (http://host:8000/v1); "
        "`/embeddings` is appended unless the URL already ends with it.",
    )
    http_model: str | None = Field(
        default=None,
        description="backend http: the `model` sent with each request (the served model's name). "
        "Unset: not sent (servers with one model use it). For the classifier judge it must "
        "serve the encoder its head was trained on.",
    )
    http_batch_size: int = Field(default=256, ge=1, description="backend http: texts per request.")
    http_encoding_format: Literal["base64", "float"] = Field(
        default="base64",
        description="backend http: the OpenAI `encoding_format` requested. base64: packed "
        "float32, decoded without parsing numbers (the driver's cost stays small at thousands "
        "of texts); float: JSON numbers, for servers without base64.",
    )
    http_concurrency: int = Field(
        default=4, ge=1, description="backend http: requests in flight at once."
    )
    http_timeout_s: float = Field(
        default=60.0, gt=0, description="backend http: timeout of each request, in seconds."
    )
    http_retries: int = Field(
        default=2,
        ge=0,
        description="backend http: retries of a request after a connection error, a timeout, "
        "or HTTP 408/429/5xx (exponential back-off from 0.5 s); other HTTP errors fail at once.",
    )
    http_api_key_env: str | None = Field(
        default=None,
        description="backend http: environment variable holding a bearer token for the server.",
    )
    on_unavailable: Literal["error", "floor"] = Field(
        default="error",
        description="When a remote backend fails (unreachable, timed out, actors died): error: "
        "the step fails with JudgeUnavailableError (no rollout is scored without the term); "
        "floor: a warning, and every rollout the judge partitions gets the floor for that step "
        "(diagnostics skip their value).",
    )

    @model_validator(mode="after")
    def _backend_needs(self) -> BackendConfig:
        if self.backend == "http" and not self.http_url:
            raise ConfigFieldError(
                "http_url", "backend 'http' needs http_url (e.g. http://127.0.0.1:8000/v1)"
            )
        return self


def build_encoder(
    cfg: BackendConfig,
    model: str | None,
    *,
    device: str | None = None,
    batch_size: int = 64,
    max_seq_length: int | None = None,
) -> Encoder:
    """The (process-wide, shared) encoder a config names for ``model``.

    Components with the same settings share one encoder, so the judge and the
    ``embedding_diversity`` diagnostic embed each text once, whatever the backend.
    """
    if cfg.backend == "local":
        return get_embedder(
            model,
            device=device,
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            threads=cfg.threads,
        )
    if cfg.backend == "ray":
        threads = cfg.threads
        if threads is None and cfg.ray_num_cpus >= 1:
            threads = int(cfg.ray_num_cpus)
        return _ray_pool(
            model,
            device,
            batch_size,
            max_seq_length,
            threads,
            cfg.ray_replicas,
            cfg.ray_num_cpus,
            cfg.ray_num_gpus,
            cfg.ray_timeout_s,
        )
    assert cfg.http_url is not None
    return _http_encoder(
        cfg.http_url,
        cfg.http_model,
        cfg.http_batch_size,
        cfg.http_concurrency,
        cfg.http_timeout_s,
        cfg.http_retries,
        cfg.http_api_key_env,
        cfg.http_encoding_format,
    )


# --------------------------------------------------------------------------- shared caching


class _CachedEncoder:
    """Deduplication and a bounded LRU cache by text hash, per precision, on the driver: texts
    seen in an earlier call (the judge's, then the diagnostic's) are not sent again."""

    def __init__(self, cache_size: int = 65_536) -> None:
        self.cache_size = cache_size
        self._caches: dict[str, OrderedDict[bytes, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._dim = 0

    def resolve(self, precision: str | None = None) -> str:
        raise NotImplementedError

    def _compute(self, texts: list[str], resolved: str) -> np.ndarray:
        raise NotImplementedError

    def encode(
        self, texts: Sequence[str], *, precision: str | None = None, exact: bool = False
    ) -> np.ndarray:
        import numpy as np

        with self._lock:
            if not texts:
                return np.zeros((0, self._dim), dtype=np.float32)
            resolved = "float32" if exact else self.resolve(precision)
            keys = [_text_key(t) for t in texts]
            cache = self._caches.setdefault(resolved, OrderedDict())

            def compute(new: list[str]) -> np.ndarray:
                vectors = np.asarray(self._compute(new, resolved), np.float32)
                if vectors.ndim != 2 or vectors.shape[0] != len(new):
                    raise JudgeUnavailableError(
                        f"{self!r} returned {vectors.shape} vectors for {len(new)} texts"
                    )
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
                self._dim = vectors.shape[1]
                return vectors

            return cached_rows(cache, self.cache_size, keys, texts, compute)


# --------------------------------------------------------------------------- ray


class _EmbedWorker:
    """The body of one Ray encoder actor: a TextEmbedder in the actor's process."""

    def __init__(
        self,
        model: str | None,
        device: str | None,
        batch_size: int,
        max_seq_length: int | None,
        threads: int | None,
    ) -> None:
        from rewardkit.judges._embedding import TextEmbedder

        self.embedder = TextEmbedder(
            model,
            device=device,
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            threads=threads,
        )

    def info(self) -> dict[str, Any]:
        self.embedder.window  # noqa: B018 - loads the model, so errors surface at start
        return {
            "pid": os.getpid(),
            "device": self.embedder.device,
            "auto": self.embedder.resolve("auto"),
            "threads": self.embedder.threads,
        }

    def encode(self, texts: list[str], precision: str) -> np.ndarray:
        return self.embedder.encode(texts, precision=precision)  # type: ignore[arg-type]

    def last_threads(self) -> int | None:
        return self.embedder.last_threads


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        import ray

        _ACTOR_CLASS = ray.remote(_EmbedWorker)
    return _ACTOR_CLASS


class RayEncoderPool(_CachedEncoder):
    """``replicas`` Ray actors embedding shards of each call's new texts in parallel."""

    def __init__(
        self,
        model: str | None,
        *,
        device: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        threads: int | None = None,
        replicas: int = 2,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        timeout_s: float = 600.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads
        self.replicas = replicas
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.timeout_s = timeout_s
        self.actors: list[Any] = []
        self.info: list[dict[str, Any]] = []
        self._job: Any = None
        self._start_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"RayEncoderPool(replicas={self.replicas}, num_cpus={self.num_cpus:g}, "
            f"num_gpus={self.num_gpus:g}, model={self.model!r})"
        )

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "backend 'ray' needs the 'ray' package (verl installs it; or pip install ray)"
            ) from None
        return ray

    def start(self) -> None:
        """Create the actors (once; again after :meth:`close` or a new Ray session)."""
        ray = self._ray()
        with self._start_lock:
            current = ray.get_runtime_context().get_job_id() if ray.is_initialized() else None
            if self.actors and current == self._job:
                return
            self.actors, self.info = [], []
            if not ray.is_initialized():
                logger.info("rewardkit: backend ray: Ray is not initialised; calling ray.init()")
                ray.init()
            self._job = ray.get_runtime_context().get_job_id()
            cls = _actor_class().options(num_cpus=self.num_cpus, num_gpus=self.num_gpus)
            actors = [
                cls.remote(
                    self.model, self.device, self.batch_size, self.max_seq_length, self.threads
                )
                for _ in range(self.replicas)
            ]
            try:
                info = ray.get([a.info.remote() for a in actors], timeout=self.timeout_s)
            except Exception as exc:
                for a in actors:
                    ray.kill(a)
                raise JudgeUnavailableError(
                    f"backend ray: {self.replicas} encoder actor(s) with num_cpus="
                    f"{self.num_cpus:g}, num_gpus={self.num_gpus:g} did not start within "
                    f"{self.timeout_s:g} s ({type(exc).__name__}: {exc}); check the cluster has "
                    "those resources free (ray status)"
                ) from exc
            self.actors, self.info = actors, info

    def resolve(self, precision: str | None = None) -> str:
        if precision is not None and precision != "auto":
            return precision
        self.start()
        return str(self.info[0]["auto"])

    def _compute(self, texts: list[str], resolved: str) -> np.ndarray:
        import numpy as np

        self.start()
        ray = self._ray()
        # Longest first, dealt round-robin: shards of near-equal token counts.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        shards = [order[r :: len(self.actors)] for r in range(len(self.actors))]
        shards = [s for s in shards if s]
        refs = [
            a.encode.remote([texts[i] for i in s], resolved) for a, s in zip(self.actors, shards)
        ]
        try:
            parts = ray.get(refs, timeout=self.timeout_s)
        except Exception as exc:
            self.close()  # the next step starts fresh actors
            raise JudgeUnavailableError(
                f"backend ray: embedding {len(texts)} texts on {len(shards)} actor(s) failed "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        dim = parts[0].shape[1]
        out = np.empty((len(texts), dim), dtype=np.float32)
        for s, part in zip(shards, parts):
            out[s] = part
        return out

    def close(self) -> None:
        """Kill the actors (a later call starts new ones)."""
        ray = self._ray() if self.actors else None
        if ray is not None and ray.is_initialized():
            for a in self.actors:
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(a)
        self.actors, self.info = [], []


@lru_cache(maxsize=8)
def _ray_pool(
    model: str | None,
    device: str | None,
    batch_size: int,
    max_seq_length: int | None,
    threads: int | None,
    replicas: int,
    num_cpus: float,
    num_gpus: float,
    timeout_s: float,
) -> RayEncoderPool:
    return RayEncoderPool(
        model,
        device=device,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        threads=threads,
        replicas=replicas,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        timeout_s=timeout_s,
    )


# --------------------------------------------------------------------------- http

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class HttpEncoder(_CachedEncoder):
    """An OpenAI-compatible embeddings endpoint: batched, concurrent, timed out, retried.

    The server's vectors are the reference (``resolve`` is always ``"float32"``, so judges do no
    re-check pass); its model, precision and truncation are the server's settings.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        batch_size: int = 256,
        concurrency: int = 4,
        timeout_s: float = 60.0,
        retries: int = 2,
        api_key_env: str | None = None,
        encoding_format: str = "base64",
    ) -> None:
        super().__init__()
        self.encoding_format = encoding_format
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/embeddings") else base + "/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.api_key_env = api_key_env
        #: Requests sent and retried (for tests and the benchmark).
        self.requests = 0
        self.retried = 0

    def __repr__(self) -> str:
        return f"HttpEncoder({self.endpoint!r}, model={self.model!r})"

    def resolve(self, precision: str | None = None) -> str:
        return "float32"

    def close(self) -> None:
        """Nothing to stop: requests hold no connection between calls."""

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ConfigError(
                    f"http_api_key_env names {self.api_key_env!r}, which is not set or empty"
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, texts: list[str]) -> list[Any]:
        body: dict[str, Any] = {"input": texts, "encoding_format": self.encoding_format}
        if self.model is not None:
            body["model"] = self.model
        data = json.dumps(body).encode("utf-8")
        headers = self._headers()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            self.requests += 1
            req = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    payload = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                last = f"HTTP {exc.code}: {detail}"
                if exc.code in _RETRY_STATUS:
                    continue
                raise JudgeUnavailableError(
                    f"backend http: {self.endpoint} answered {last}"
                ) from None
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
                last = f"{type(exc).__name__}: {exc}"
                continue
            except ValueError as exc:
                raise JudgeUnavailableError(
                    f"backend http: {self.endpoint} did not answer JSON ({exc})"
                ) from None
            return self._rows(payload, len(texts))
        raise JudgeUnavailableError(
            f"backend http: {self.endpoint} failed {self.retries + 1} time(s), last: {last}; "
            "is the embedding server running and reachable from this process?"
        )

    def _rows(self, payload: Any, n: int) -> list[Any]:
        import numpy as np

        try:
            items = sorted(payload["data"], key=lambda d: int(d["index"]))
            rows = [
                np.frombuffer(base64.b64decode(e), dtype="<f4")
                if isinstance(e, str)
                else np.asarray(e, dtype=np.float32)
                for e in (d["embedding"] for d in items)
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise JudgeUnavailableError(
                f"backend http: {self.endpoint} answered no OpenAI embeddings list "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if len(rows) != n:
            raise JudgeUnavailableError(
                f"backend http: {self.endpoint} returned {len(rows)} embeddings for {n} texts"
            )
        return rows

    def _compute(self, texts: list[str], resolved: str) -> np.ndarray:
        import numpy as np

        prepared = [encodable_text(t) for t in texts]
        chunks = [
            prepared[i : i + self.batch_size] for i in range(0, len(prepared), self.batch_size)
        ]
        workers = max(1, min(self.concurrency, len(chunks)))
        if workers == 1:
            rows = [r for c in chunks for r in self._post(c)]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="rewardkit-http") as pool:
                rows = [r for part in pool.map(self._post, chunks) for r in part]
        if len({r.shape for r in rows}) != 1:
            raise JudgeUnavailableError(
                f"backend http: {self.endpoint} returned embeddings of different lengths"
            )
        out = np.stack(rows).astype(np.float32, copy=False)
        if not np.all(np.isfinite(out)):
            raise JudgeUnavailableError(f"backend http: {self.endpoint} returned non-finite values")
        return out


@lru_cache(maxsize=8)
def _http_encoder(
    url: str,
    model: str | None,
    batch_size: int,
    concurrency: int,
    timeout_s: float,
    retries: int,
    api_key_env: str | None,
    encoding_format: str = "base64",
) -> HttpEncoder:
    return HttpEncoder(
        url,
        model=model,
        batch_size=batch_size,
        concurrency=concurrency,
        timeout_s=timeout_s,
        retries=retries,
        api_key_env=api_key_env,
        encoding_format=encoding_format,
    )


def unavailable_floor_warning(
    where: str, exc: Exception, consequence: str = "this step's rollouts get the floor"
) -> None:
    """The warning logged when ``on_unavailable: floor`` replaces a remote backend's answer."""
    logger.warning("rewardkit: %s: %s; on_unavailable: floor, so %s", where, exc, consequence)
