"""Cost of rewardkit's entropy token mask, against TRL's own mask, in the same run.

1. ``entropy_mask`` on a 64 x 4096 batch (random response lengths, ~50 % valid tokens) for each
   select/scope, next to TRL's ``GRPOTrainer.get_high_entropy_mask`` (the real method, single
   process) on the same tensors. CPU always; CUDA too when a GPU is present.
2. A short offline ``GRPOTrainer`` run (tiny Qwen2 from the TRL test fixtures): TRL's native
   ``top_entropy_quantile=0.2`` versus ``EntropyMaskMixin`` with ``select="quantile",
   scope="global"`` (diagnostics on), same seed, alternating rounds in one process. Checks that
   the kept-token counts are equal and reports the step-time ratio (goal <= 1.05), in wall time
   (TRL's ``step_time``) and in process CPU time (robust to other jobs on a shared machine).

    python benchmarks/mask_overhead.py [--reps 30] [--rounds 3] [--steps 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from rewardkit.masks import EntropyTopRatioConfig, EntropyTopRatioMask, entropy_mask  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Any, reps: int, sync: Any) -> dict[str, float]:
    for _ in range(3):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p10_ms": times[len(times) // 10],
        "p90_ms": times[(9 * len(times)) // 10],
    }


def bench_mask(device: str, reps: int) -> list[dict[str, Any]]:
    from accelerate import Accelerator
    from trl import GRPOTrainer

    g = torch.Generator().manual_seed(0)
    b, t = 64, 4096
    entropies = (torch.rand(b, t, generator=g) ** 3 * 4).to(device)  # skewed like real entropy
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    valid = (torch.arange(t)[None, :] < lengths[:, None]).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    host = SimpleNamespace(accelerator=Accelerator(cpu=device == "cpu"))

    def trl_native() -> Any:
        return GRPOTrainer.get_high_entropy_mask(host, entropies, valid.long(), 1 - 0.2)

    rows = [{"case": "TRL get_high_entropy_mask (baseline)", **_timed(trl_native, reps, sync)}]
    baseline = rows[0]["median_ms"]
    for select in ("quantile", "topk"):
        for scope in ("global", "batch", "sequence"):

            def ours(select: str = select, scope: str = scope) -> Any:
                return entropy_mask(entropies, valid, 0.2, select, scope)  # type: ignore[arg-type]

            rows.append({"case": f"entropy_mask {select}/{scope}", **_timed(ours, reps, sync)})
    component = EntropyTopRatioMask(EntropyTopRatioConfig(select="quantile", scope="global"))
    ids = torch.randint(0, 150_000, (b, t), generator=g).to(device)
    rows.append(
        {
            "case": "EntropyTopRatioMask.apply quantile/global + diagnostics",
            **_timed(lambda: component.apply(entropies, valid, token_ids=ids), reps, sync),
        }
    )
    same = torch.equal(entropy_mask(entropies, valid, 0.2, "quantile", "global"), trl_native())
    for row in rows:
        row["device"] = device
        row["ratio_vs_trl"] = row["median_ms"] / baseline
    rows[0]["equal_to_trl"] = same
    return rows


def _fixtures() -> Any:
    # The tiny model recipe lives with the TRL adapter tests; load it by path, not a copy.
    spec = importlib.util.spec_from_file_location(
        "trl_tiny", ROOT / "adapters" / "trl" / "tests" / "trl_tiny.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def length_reward(completions: list[str], **_: object) -> list[float]:
    return [float(len(c)) for c in completions]


def bench_trainer(rounds: int, steps: int) -> dict[str, Any]:
    from datasets import Dataset
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from transformers.trainer_callback import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    fx = _fixtures()
    kept: dict[str, list[int]] = {}

    def counting(base: type, name: str) -> type:
        class Counting(base):  # type: ignore[misc, valid-type]
            def get_high_entropy_mask(self, entropies, mask, threshold):  # type: ignore[no-untyped-def]
                out = super().get_high_entropy_mask(entropies, mask, threshold)
                kept.setdefault(name, []).append(int(out.sum()))
                return out

        return Counting

    class StepCPUTime(TrainerCallback):
        """CPU seconds of this process per optimizer step: unlike wall time, not inflated by
        other jobs on a shared machine (torch runs one thread here)."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._start = time.process_time()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.times.append(time.process_time() - self._start)

    native_cls = counting(GRPOTrainer, "native")
    ours_cls = counting(type("Masked", (EntropyMaskMixin, GRPOTrainer), {}), "rewardkit")
    step_times: dict[str, list[float]] = {"native": [], "rewardkit": []}
    cpu_times: dict[str, list[float]] = {"native": [], "rewardkit": []}
    dataset = Dataset.from_dict({"prompt": fx.tiny_prompt_texts(8 * steps)})
    for _ in range(rounds):
        for name in ("native", "rewardkit"):
            kept.pop(name, None)
            model, tokenizer = fx.build_tiny_model_and_tokenizer(seed=0)
            extra: dict[str, Any] = {}
            if name == "native":
                args = fx.tiny_grpo_args(tempfile.mkdtemp(), top_entropy_quantile=0.2)
            else:
                args = fx.tiny_grpo_args(tempfile.mkdtemp())
                extra["token_mask"] = EntropyTopRatioMask(
                    EntropyTopRatioConfig(ratio=0.2, select="quantile", scope="global")
                )
            args.update(
                max_steps=steps,
                max_completion_length=32,
                per_device_train_batch_size=8,
                num_generations=8,
            )
            cls = native_cls if name == "native" else ours_cls
            trainer = cls(
                model=model,
                processing_class=tokenizer,
                reward_funcs=length_reward,
                args=GRPOConfig(**args),
                train_dataset=dataset,
                **extra,
            )
            trainer.remove_callback(PrinterCallback)  # keep the report readable
            cpu = StepCPUTime()
            trainer.add_callback(cpu)
            trainer.train()
            times = [h["step_time"] for h in trainer.state.log_history if "step_time" in h]
            step_times[name].extend(times[1:])  # the first step pays one-off warm-up
            cpu_times[name].extend(cpu.times[1:])
        if kept["native"] != kept["rewardkit"]:
            raise SystemExit(f"kept-token counts differ: {kept}")
    median = {k: statistics.median(v) for k, v in step_times.items()}
    cpu_median = {k: statistics.median(v) for k, v in cpu_times.items()}
    return {
        "median_step_cpu_ms": {k: v * 1e3 for k, v in cpu_median.items()},
        "step_cpu_time_ratio": cpu_median["rewardkit"] / cpu_median["native"],
        "rounds": rounds,
        "steps_per_round": steps,
        "kept_tokens_per_step": kept["native"],
        "kept_counts_equal": True,
        "median_step_ms": {k: v * 1e3 for k, v in median.items()},
        "mean_step_ms": {k: statistics.mean(v) * 1e3 for k, v in step_times.items()},
        "step_time_ratio": median["rewardkit"] / median["native"],
    }


TERMS: dict[str, dict[str, Any] | None] = {
    "off": None,
    "entropy_advantage": {"type": "entropy_advantage"},
    "clip_cov": {"type": "clip_cov"},
    "kl_cov": {"type": "kl_cov"},
    "token_entropy": {"type": "token_entropy"},
}


def bench_terms(rounds: int, steps: int) -> dict[str, Any]:
    """Median CPU time per optimizer step of a tiny GRPOTrainer with each ``token:`` term versus
    the same trainer without it (same seed, same data; the first step of a run is dropped).
    No extra logits pass: every term reads the entropies and log-probs TRL computes anyway."""
    from datasets import Dataset
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from transformers.trainer_callback import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rewardkit import RewardPipeline

    fx = _fixtures()

    class StepCPUTime(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._start = time.process_time()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.times.append(time.process_time() - self._start)

    cls = type("Terms", (EntropyMaskMixin, GRPOTrainer), {})
    cpu: dict[str, list[float]] = {name: [] for name in TERMS}
    dataset = Dataset.from_dict({"prompt": fx.tiny_prompt_texts(8 * steps)})
    for _ in range(rounds):
        for name, term in TERMS.items():
            model, tokenizer = fx.build_tiny_model_and_tokenizer(seed=0)
            args = fx.tiny_grpo_args(tempfile.mkdtemp())
            args.update(
                max_steps=steps,
                max_completion_length=32,
                per_device_train_batch_size=8,
                num_generations=8,
            )
            terms = RewardPipeline({"token": [term]}).token_terms if term else None
            trainer = cls(
                model=model,
                processing_class=tokenizer,
                reward_funcs=length_reward,
                args=GRPOConfig(**args),
                train_dataset=dataset,
                token_terms=terms,
            )
            trainer.remove_callback(PrinterCallback)
            timer = StepCPUTime()
            trainer.add_callback(timer)
            trainer.train()
            cpu[name].extend(timer.times[1:])
    median = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "rounds": rounds,
        "steps_per_round": steps,
        "median_step_cpu_ms": {k: v * 1e3 for k, v in median.items()},
        "ratio_vs_off": {k: v / median["off"] for k, v in median.items()},
    }


def _print_terms(tt: dict[str, Any]) -> None:
    print(
        f"\ntoken: terms, GRPOTrainer, {tt['rounds']} rounds x {tt['steps_per_round']} steps"
        "\n\n| term | median step CPU ms | x off |\n|---|---:|---:|"
    )
    for name, ms in tt["median_step_cpu_ms"].items():
        print(f"| {name} | {ms:.1f} | {tt['ratio_vs_off'][name]:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--terms-only", action="store_true", help="only the token: terms' step overhead"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.terms_only:
        terms = bench_terms(args.rounds, args.steps)
        print(
            f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
            f"threads {args.threads}"
        )
        _print_terms(terms)
        if args.json:
            args.json.write_text(json.dumps({"terms": terms}, indent=2))
        return
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, python "
        f"{platform.python_version()}, torch {torch.__version__}, threads {args.threads}",
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "mask": [row for d in devices for row in bench_mask(d, args.reps)],
        "trainer": bench_trainer(args.rounds, args.steps),
    }
    print(f"machine: {result['machine']}; GPU: {result['gpu'] or 'none (CUDA not measured)'}")
    print("\n| device | case | median ms | p10 | p90 | x TRL |\n|---|---|---:|---:|---:|---:|")
    for r in result["mask"]:
        print(
            f"| {r['device']} | {r['case']} | {r['median_ms']:.2f} | {r['p10_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['ratio_vs_trl']:.2f} |"
        )
    tr = result["trainer"]
    print(
        f"\nGRPOTrainer, {tr['rounds']} rounds x {tr['steps_per_round']} steps: kept counts equal "
        f"({tr['kept_tokens_per_step']}), median step native {tr['median_step_ms']['native']:.1f} "
        f"ms, rewardkit {tr['median_step_ms']['rewardkit']:.1f} ms, ratio "
        f"{tr['step_time_ratio']:.3f}; median step CPU time native "
        f"{tr['median_step_cpu_ms']['native']:.1f} ms, rewardkit "
        f"{tr['median_step_cpu_ms']['rewardkit']:.1f} ms, ratio {tr['step_cpu_time_ratio']:.3f}"
    )
    result["terms"] = bench_terms(args.rounds, args.steps)
    _print_terms(result["terms"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    sys.exit(0 if tr["kept_counts_equal"] else 1)


if __name__ == "__main__":
    main()
