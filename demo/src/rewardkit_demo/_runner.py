"""The demo from start to end: tokenizer and tiny model, supervised warm-up, one GRPO run per
rewardkit config through :class:`~rewardkit_trl.RewardKitGRPOTrainer`, a final evaluation of
every policy, and the report."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardkit import ArgumentError, load_config
from rewardkit_demo._measure import PolicyMeasure
from rewardkit_demo._task import TargetTask

__all__ = ["DemoResult", "DemoSettings", "RunResult", "RunSpec", "run_demo"]

_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Every knob of the demo besides the rewardkit configs; the defaults are what the report
    describes."""

    steps: int = 200
    seed: int = 0
    warmup_steps: int = 400
    warmup_learning_rate: float = 3e-3
    learning_rate: float = 3e-4
    prompts_per_step: int = 16
    num_generations: int = 8
    temperature: float = 1.0
    max_completion_length: int = 8
    eval_samples: int = 32
    pass_k: tuple[int, ...] = (1, 4, 8)
    threads: int = 1

    @property
    def eval_pass_k(self) -> tuple[int, ...]:
        """pass@k of the final evaluation: powers of two up to the samples per target, and the
        training ks."""
        powers = [2**i for i in range(self.eval_samples.bit_length()) if 2**i <= self.eval_samples]
        return tuple(sorted({*powers, *self.pass_k, self.eval_samples}))


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One GRPO run: a rewardkit config file; the title is the file's first comment line."""

    name: str
    title: str
    config: Path

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RunSpec:
        p = Path(path)
        title = p.stem
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                title = line.lstrip("#").strip() or title
                break
        return cls(p.stem, title, p)


@dataclass(slots=True)
class RunResult:
    """Per-step measurements of one run and the final evaluation of its policy."""

    spec: RunSpec
    steps: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    examples: dict[int, list[str]] = field(default_factory=dict)
    forking_tokens: list[tuple[str, float]] = field(default_factory=list)
    seconds: float = math.nan


@dataclass(slots=True)
class DemoResult:
    """Everything the report shows."""

    settings: DemoSettings
    task: TargetTask
    base: dict[str, float]
    base_examples: dict[int, list[str]]
    base_forking_tokens: list[tuple[str, float]]
    runs: list[RunResult]
    warmup_loss: tuple[float, float]
    warmup_seconds: float
    seconds: float = math.nan
    environment: dict[str, str] = field(default_factory=dict)


StepCallback = Callable[[RunSpec, int, dict[str, float]], None]


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep the progress bars readable: library warnings about a tiny CPU run are expected."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # e.g. "Loading weights" of the embedding model
    loggers = [logging.getLogger(n) for n in ("trl", "accelerate", "rewardkit_trl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _train_dataset(task: TargetTask, settings: DemoSettings) -> Any:
    from datasets import Dataset

    # Every target equally often; TRL's sampler shuffles with the run seed, so every run sees
    # the same prompts at the same step.
    rows = settings.steps * settings.prompts_per_step
    copies = -(-rows // len(task.targets))
    targets = list(task.targets) * copies
    return Dataset.from_dict(
        {"prompt": [task.prompt(t) for t in targets], "reference": [str(t) for t in targets]}
    )


def _grpo_args(settings: DemoSettings, output_dir: str) -> Any:
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=output_dir,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
        logging_steps=1,
        seed=settings.seed,
        max_steps=settings.steps,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        per_device_train_batch_size=settings.prompts_per_step * settings.num_generations,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=0.0,
    )


def _examples(groups: Any, per_target: int = 8) -> dict[int, list[str]]:
    return {t: list(c[:per_target]) for t, c in zip(groups.targets, groups.completions)}


def run_demo(
    configs: Sequence[str | os.PathLike[str]],
    *,
    settings: DemoSettings | None = None,
    on_warmup_step: Callable[[int, float], None] | None = None,
    on_run_start: Callable[[RunSpec], None] | None = None,
    on_step: StepCallback | None = None,
) -> DemoResult:
    """Warm up one tiny model, then train a copy with GRPO under each rewardkit config.

    Deterministic for a given ``settings`` (seed, threads) on a given machine and library set.
    """
    for key, value in _OFFLINE.items():
        os.environ.setdefault(key, value)
    settings = settings or DemoSettings()
    specs = [RunSpec.from_file(c) for c in configs]
    names = [s.name for s in specs]
    if not specs:
        raise ArgumentError("no run configs given")
    if len(set(names)) != len(names):
        raise ArgumentError(f"run names (config file stems) must be unique, got {names}")
    for spec in specs:  # a bad config fails now, not after the runs before it have trained
        load_config(spec.config)

    import torch
    from transformers import set_seed

    from rewardkit_demo._model import build_model, build_tokenizer
    from rewardkit_demo._recording import recording_trainer_class
    from rewardkit_demo._sampling import sample_groups
    from rewardkit_demo._warmup import warm_up

    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    task = TargetTask()
    tokenizer = build_tokenizer(task.vocabulary())
    measure = PolicyMeasure(settings.pass_k, tokenizer)
    eval_measure = PolicyMeasure(settings.eval_pass_k, tokenizer)

    def evaluate(model: Any) -> tuple[dict[str, float], dict[int, list[str]], list[Any]]:
        groups = sample_groups(
            model,
            tokenizer,
            task.targets,
            group_size=settings.eval_samples,
            seed=settings.seed + 1,
            max_new_tokens=settings.max_completion_length,
            temperature=settings.temperature,
        )
        # Group statistics over groups of G, as in training; pass@k from all samples per target.
        metrics = measure(groups.split(settings.num_generations))
        metrics.update({k: v for k, v in eval_measure(groups).items() if k.startswith("pass@")})
        return metrics, _examples(groups), measure.forking_tokens(groups)

    try:
        with _quiet_libraries():
            set_seed(settings.seed)
            model = build_model(tokenizer, seed=settings.seed)
            t0 = time.perf_counter()
            warm = warm_up(
                model,
                tokenizer,
                task,
                steps=settings.warmup_steps,
                seed=settings.seed,
                learning_rate=settings.warmup_learning_rate,
                on_step=on_warmup_step,
            )
            warmup_seconds = time.perf_counter() - t0
            base_state = copy.deepcopy(model.state_dict())
            base, base_examples, base_forks = evaluate(model)

            trainer_cls = recording_trainer_class()
            runs: list[RunResult] = []
            for spec in specs:
                if on_run_start is not None:
                    on_run_start(spec)
                result = RunResult(spec)
                run_started = time.perf_counter()
                set_seed(settings.seed)
                model = build_model(tokenizer, seed=settings.seed)
                model.load_state_dict(base_state)

                def record(
                    step: int, metrics: dict[str, float], result: RunResult = result
                ) -> None:
                    result.steps.append({"step": float(step), **metrics})
                    if on_step is not None:
                        on_step(result.spec, step, metrics)

                with tempfile.TemporaryDirectory(prefix="rewardkit-demo-") as tmp:
                    trainer = trainer_cls(
                        model,
                        str(spec.config),
                        args=_grpo_args(settings, tmp),
                        train_dataset=_train_dataset(task, settings),
                        processing_class=tokenizer,
                        measure=measure,
                        on_step=record,
                    )
                    try:
                        trainer.train()
                    finally:
                        trainer.rewardkit_pipeline.close()
                result.final, result.examples, result.forking_tokens = evaluate(trainer.model)
                result.seconds = time.perf_counter() - run_started
                runs.append(result)
    finally:
        measure.close()
        eval_measure.close()
        torch.set_num_threads(previous_threads)

    return DemoResult(
        settings=settings,
        task=task,
        base=base,
        base_examples=base_examples,
        base_forking_tokens=base_forks,
        runs=runs,
        warmup_loss=(warm.first_loss, warm.final_loss),
        warmup_seconds=warmup_seconds,
        seconds=time.perf_counter() - started,
        environment=_environment(settings.threads),
    )


def _environment(threads: int) -> dict[str, str]:
    import platform

    import torch
    import transformers
    import trl

    import rewardkit

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "rewardkit": rewardkit.__version__,
        "torch threads": str(threads),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
