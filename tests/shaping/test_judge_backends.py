"""Judge backends on real components: the encoder's thread count, ``backend: http`` against a
real OpenAI-compatible embeddings server on 127.0.0.1 (a separate process serving the packaged
MiniLM), and ``backend: ray`` with 2 actors on a local Ray cluster. Remote backends must give
the partitions ``backend: local`` gives on the same texts.

Slow: loads the model in several processes (Ray's actors, the server).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rewardkit import (
    Batch,
    ConfigError,
    JudgeUnavailableError,
    RewardPipeline,
    RewardResult,
    Rollout,
    ShapingInput,
)
from rewardkit.judges import TextEmbedder, _embedding, load_pairs, train_classifier
from rewardkit.judges._embedding import LARGE_BATCH

pytestmark = pytest.mark.slow

PAIRS = Path(str(resources.files("rewardkit") / "data" / "equivalence_pairs.jsonl"))
GROUP = 8


def _texts() -> list[str]:
    """96 solution texts from the shipped labelled pairs: 12 groups of 8."""
    pairs = load_pairs(PAIRS)[:48]
    return [t for p in pairs for t in (p.text_a, p.text_b)]


def _shaping_input(texts: list[str]) -> ShapingInput:
    rollouts = [Rollout(f"p{i // GROUP}", t, group=f"g{i // GROUP}") for i, t in enumerate(texts)]
    results = {"m": [RewardResult.correct(answer="1")] * len(texts)}
    return ShapingInput(Batch(rollouts), tuple([1.0] * len(texts)), results)


def _diversity(judge: dict[str, Any], texts: list[str]) -> list[float]:
    term = {"type": "semantic_diversity", "precision": "float32", **judge}
    with RewardPipeline.from_config({"rewards": [], "shaping": [term]}) as pipe:
        return pipe.shaping[0].diversity(_shaping_input(texts))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _texts()


@pytest.fixture(scope="module")
def local_div(texts: list[str]) -> list[float]:
    div = _diversity({}, texts)
    # A test that cannot fail is a defect: the batch has merged and separate rollouts.
    assert min(div) < 1.0 < max(div) + 1e-9 and len(set(div)) > 2
    return div


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clf")
    train_classifier(load_pairs(PAIRS)[48:144], out)
    return out


# --------------------------------------------------------------------------- threads


def test_default_threads_override_omp_num_threads_1() -> None:
    """Ray sets OMP_NUM_THREADS=1 in actors (verl's TaskRunner); the encoder still uses the
    CPUs the process may use, and restores torch's setting afterwards."""
    code = (
        "import json, os, torch\n"
        "before = torch.get_num_threads()\n"
        "from rewardkit.judges import TextEmbedder\n"
        "e = TextEmbedder(device='cpu')\n"
        "e.encode(['one text', 'another text'])\n"
        "print(json.dumps([before, e.last_threads, torch.get_num_threads(),"
        " len(os.sched_getaffinity(0))]))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    before, used, after, cpus = json.loads(out.stdout.splitlines()[-1])
    assert before == 1 and after == 1
    if cpus == 1:
        pytest.skip("this machine gives the process one CPU")
    assert used == cpus


def test_one_thread_on_a_large_batch_warns_once_naming_the_setting(monkeypatch, caplog) -> None:
    monkeypatch.setattr(_embedding, "_warned_single_thread", False)
    emb = TextEmbedder(device="cpu", threads=1)
    with caplog.at_level(logging.WARNING, logger="rewardkit"):
        emb.encode([f"short text {i}" for i in range(LARGE_BATCH - 1)])
        assert not caplog.records  # small batches stay quiet
        emb.encode([f"another text {i}" for i in range(LARGE_BATCH)])
        emb.encode([f"a third text {i}" for i in range(LARGE_BATCH)])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "threads: 1" in warnings[0] and "`threads:`" in warnings[0]
    assert emb.last_threads == 1


# --------------------------------------------------------------------------- http


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardkit.judges._embed_server", "--port", "0", "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the model is loaded
        assert line.startswith("listening on "), (line, proc.stderr and proc.stderr.read())
        yield line.split()[-1] + "/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_http_backend_gives_the_local_partitions(
    server_url: str, texts: list[str], local_div: list[float]
) -> None:
    judge = {"backend": "http", "http_url": server_url, "http_batch_size": 7}
    assert _diversity(judge, texts) == local_div  # base64-packed float32 (the default)
    assert _diversity({**judge, "http_encoding_format": "float"}, texts) == local_div
    from rewardkit.judges import HttpEncoder

    enc = HttpEncoder(server_url, batch_size=7, concurrency=3)
    vectors = enc.encode(texts)
    assert enc.requests == -(-len(set(texts)) // 7)  # deduplicated, then batched by 7
    assert np.allclose(vectors, TextEmbedder().encode(texts, exact=True), atol=1e-5)


def test_http_classifier_judge_and_diagnostics_match_local(
    server_url: str, texts: list[str], classifier_dir: Path
) -> None:
    def run(extra: dict[str, Any]) -> tuple[list[float], dict[str, float]]:
        cfg = {
            "rewards": [],
            "shaping": [
                {"type": "semantic_diversity", "judge": "classifier", "precision": "float32"}
                | {"classifier_path": str(classifier_dir), **extra}
            ],
            "diagnostics": [{"type": "embedding_diversity", "precision": "float32", **extra}],
        }
        with RewardPipeline.from_config(cfg) as pipe:
            data = _shaping_input(texts)
            scored = pipe.combine(data.batch, {}, None)
            return pipe.shaping[0].diversity(data), scored.metrics

    local_div, local_metrics = run({})
    http_div, http_metrics = run({"backend": "http", "http_url": server_url})
    assert min(local_div) < 1.0 and len(set(local_div)) > 1
    assert http_div == local_div
    key = "rewardkit/embedding_diversity/mean"
    assert http_metrics[key] == pytest.approx(local_metrics[key], abs=1e-6)


def test_unreachable_server_fails_the_step_clearly_or_gives_the_floor(texts: list[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    judge = {"backend": "http", "http_url": url, "http_retries": 1, "http_timeout_s": 5}
    with pytest.raises(JudgeUnavailableError, match=r"failed 2 time\(s\).*server running"):
        _diversity(judge, texts)
    term = {"type": "semantic_diversity", **judge}
    with RewardPipeline.from_config({"rewards": [], "shaping": [term]}) as pipe:
        data = _shaping_input(texts[:16])
        with pytest.raises(JudgeUnavailableError, match=url):  # through the pipeline, unwrapped
            pipe.combine(data.batch, {}, None)
    div = _diversity({**judge, "on_unavailable": "floor", "floor": 0.25}, texts)
    assert div == [0.25] * len(texts)  # every rollout kept, each at the floor
    cfg = {
        "rewards": [],
        "diagnostics": [
            {"type": "embedding_diversity", **judge, "on_unavailable": "floor"},
            {"type": "partitions", **judge, "on_unavailable": "floor"},
        ],
    }
    with RewardPipeline.from_config(cfg) as pipe:
        data = _shaping_input(texts[:16])
        metrics = pipe.combine(data.batch, {}, None).metrics
    assert not any("embedding_diversity" in k or "partitions" in k for k in metrics)


def test_backend_config_errors() -> None:
    with pytest.raises(ConfigError, match="http_url"):
        RewardPipeline.from_config(
            {"rewards": [], "shaping": [{"type": "semantic_diversity", "backend": "http"}]}
        )
    from rewardkit.judges import EquivalenceClassifier

    head = EquivalenceClassifier(kind="pair_head", threshold=0.5, coef=(0.0,) * 9)  # 4-dim
    assert head.proba_from_embeddings(np.eye(4)[:1], np.eye(4)[1:2]).shape == (1,)
    with pytest.raises(ConfigError, match=r"4-dim embeddings .* got 3-dim"):
        head.proba_from_embeddings(np.eye(3)[:1], np.eye(3)[1:2])


def test_building_remote_backends_imports_neither_ray_nor_torch() -> None:
    code = (
        "import json, sys\n"
        "from rewardkit import RewardPipeline\n"
        "judge = {'type': 'semantic_diversity', 'backend': 'ray'}\n"
        "diag = {'type': 'embedding_diversity', 'backend': 'http', 'http_url': 'http://x/v1'}\n"
        "RewardPipeline.from_config({'rewards': [], 'shaping': [judge], 'diagnostics': [diag]})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert not loaded & {"ray", "torch", "sentence_transformers"}, loaded


# --------------------------------------------------------------------------- ray


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}},
    )
    yield ray
    ray.shutdown()


def test_ray_backend_two_actors_give_the_local_partitions_and_stop_on_close(
    ray_session: Any, texts: list[str], local_div: list[float]
) -> None:
    ray = ray_session
    term = {
        "type": "semantic_diversity",
        "precision": "float32",
        "backend": "ray",
        "ray_replicas": 2,
        "ray_num_cpus": 1,
    }
    cfg = {
        "rewards": [],
        "shaping": [term],
        "diagnostics": [{"type": "embedding_diversity", **{k: term[k] for k in list(term)[1:]}}],
    }
    pipe = RewardPipeline.from_config(cfg)
    pool = pipe.shaping[0].judge.embedder
    assert pipe.diagnostics[0].embedder is pool  # one pool for the judge and the diagnostic
    assert pool.actors == []  # created on first use
    data = _shaping_input(texts)
    assert pipe.shaping[0].diversity(data) == local_div
    actors = list(pool.actors)
    assert len(actors) == 2 and len({i["pid"] for i in pool.info}) == 2
    # Both actors embedded a shard, each on the one thread its CPU gives it.
    assert ray.get([a.last_threads.remote() for a in actors]) == [1, 1]
    half = _shaping_input(texts[:48] + texts[:48])
    pipe.shaping[0].diversity(half)
    assert pool.actors == actors  # reused on the next step
    pipe.close()
    assert pool.actors == []
    # ray.kill is asynchronous: each actor stops answering within seconds.
    deadline = time.monotonic() + 60
    alive = list(actors)
    while alive and time.monotonic() < deadline:
        still = []
        for a in alive:
            try:
                ray.get(a.info.remote(), timeout=30)
                still.append(a)
            except ray.exceptions.RayActorError:
                pass
        alive = still
        time.sleep(0.5)
    assert not alive
