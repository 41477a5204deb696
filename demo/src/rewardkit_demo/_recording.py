"""A :class:`~rewardkit_trl.RewardKitGRPOTrainer` that keeps what the demo measures per step.

It records each generation batch's completions (grouped as TRL sampled them) and the token
entropies TRL computes in the loss anyway, and measures them at every logging step. Built on
first use, so importing this module does not import TRL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from rewardkit_demo._measure import PolicyMeasure, SampledGroups

__all__ = ["recording_trainer_class"]

StepHook = Callable[[int, dict[str, float]], None]


@cache
def recording_trainer_class() -> type[Any]:
    """``RecordingGRPOTrainer(model, config, *, measure, on_step, **GRPOTrainer kwargs)``."""
    import torch
    from rewardkit_trl import RewardKitGRPOTrainer
    from transformers import PrinterCallback, TrainerCallback

    class _MeasureEachStep(TrainerCallback):
        def __init__(self, trainer: RecordingGRPOTrainer) -> None:
            self.trainer = trainer

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if logs and "loss" in logs:  # a training step, not the end-of-training summary
                self.trainer.measure_step(state.global_step, logs)

    class RecordingGRPOTrainer(RewardKitGRPOTrainer):
        """RewardKitGRPOTrainer that measures each step's completions and token entropies."""

        def __init__(
            self, *args: Any, measure: PolicyMeasure, on_step: StepHook, **kwargs: Any
        ) -> None:
            super().__init__(*args, **kwargs)
            self._measure = measure
            self._on_step = on_step
            self._targets: list[int] = []
            self._texts: list[str] = []
            self._entropies: list[torch.Tensor] = []
            self._token_ids: list[torch.Tensor] = []
            # The demo shows its own progress; TRL would print every step's log dict.
            self.remove_callback(PrinterCallback)
            self.add_callback(_MeasureEachStep(self))

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            out = super()._generate_and_score_completions(inputs)
            if self.model.training:
                self._targets.extend(int(x["reference"]) for x in inputs)
                self._texts.extend(
                    self.processing_class.batch_decode(
                        out["completion_ids"], skip_special_tokens=True
                    )
                )
            return out

        def _get_per_token_logps_and_entropies(
            self,
            model: Any,
            input_ids: Any,
            attention_mask: Any,
            logits_to_keep: int,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            logps, entropies, aux = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
            if entropies is not None and self.model.training:
                # The loss pass: the entropies of the policy that sampled this batch, over the
                # completion tokens (the tail of the attention mask).
                # One entry per completion, its valid tokens only (roles need the rows).
                valid = attention_mask[:, -logits_to_keep:].bool()
                ids = input_ids[:, -logits_to_keep:]
                for row in range(valid.shape[0]):
                    self._entropies.append(entropies.detach()[row][valid[row]].float())
                    self._token_ids.append(ids[row][valid[row]])
            return logps, entropies, aux

        def measure_step(self, step: int, logs: dict[str, Any]) -> None:
            g = self.num_generations
            groups = SampledGroups(
                [self._targets[i] for i in range(0, len(self._targets), g)],
                [self._texts[i : i + g] for i in range(0, len(self._texts), g)],
            )
            if self._entropies:
                # One row per completion of the step, right-padded (micro-batches may differ in
                # width); rows need not follow the groups, only batch-wide statistics use them.
                from torch.nn.utils.rnn import pad_sequence

                lengths = torch.tensor([len(e) for e in self._entropies])
                entropies = pad_sequence(self._entropies, batch_first=True)
                valid = torch.arange(entropies.shape[1])[None, :] < lengths[:, None]
                groups = SampledGroups(
                    groups.targets,
                    groups.completions,
                    entropies,
                    valid,
                    pad_sequence(self._token_ids, batch_first=True, padding_value=-1),
                )
            metrics = self._measure(groups)
            metrics["train_reward"] = float(logs.get("reward", float("nan")))
            self._targets, self._texts = [], []
            self._entropies, self._token_ids = [], []
            self._on_step(step, metrics)

    return RecordingGRPOTrainer
