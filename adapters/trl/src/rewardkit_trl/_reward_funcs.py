"""rewardkit components as TRL reward functions.

``build_reward_funcs(config, num_generations)`` returns one callable per reward and shaping term
and the matching ``reward_weights``, so TRL logs ``rewards/<name>/mean`` per component and its
weighted sum of the columns equals rewardkit's total:

* a reward's column is its raw score, with the reward's ``weight``;
* an additive shaping term's column is its value, weight 1;
* a multiplicative shaping term (``combine: multiply``) cannot be a TRL column as such, because
  TRL only sums weighted columns. Its column is the change it made to the total,
  ``total_after - total_before``, weight 1 - so the sum is still exact, and the factor itself is
  logged as ``rewardkit/<name>/mean`` and in the completions table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardkit import ArgumentError, ConfigError
from rewardkit_trl._call import TRLCall
from rewardkit_trl._scorer import ConfigLike, FailedAs, RewardKitScorer

__all__ = [
    "AsyncRewardKitRewardFunc",
    "RewardKitRewardFunc",
    "RewardKitTotalRewardFunc",
    "build_reward_funcs",
    "build_total_reward_func",
]


class RewardKitRewardFunc:
    """One reward or shaping term of a rewardkit config, as a TRL reward function.

    Takes TRL's keyword call (``prompts``, ``completions``, ``completion_ids``, dataset
    columns, ``trainer_state``, ``log_metric``, ``log_extra``) and returns one float per
    completion (``None`` for a failed rollout when the scorer's ``failed_as`` is ``"none"``). The functions of one config share a :class:`RewardKitScorer`, which scores each
    batch once. Picklable (the functions pickled together keep sharing one scorer).
    """

    def __init__(self, scorer: RewardKitScorer, name: str, kind: str, weight: float) -> None:
        self.scorer = scorer
        #: TRL names the reward column, and its ``rewards/<name>/mean`` metric, after this.
        self.__name__ = name
        self.kind = kind
        self.weight = weight

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__!r}, kind={self.kind}, weight={self.weight:g})"

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        **kwargs: Any,
    ) -> list[float | None]:
        return self.scorer.column(self.__name__, prompts, completions, kwargs)


class AsyncRewardKitRewardFunc(RewardKitRewardFunc):
    """An I/O-bound reward (sandbox, remote judge) as an async TRL reward function.

    TRL runs async reward functions concurrently on its event-loop thread, after the sync ones.
    It scores this process's completions alone and never runs a collective (they must not run
    off the main thread), which is why only rewards that no shaping term or diagnostic reads get
    one.
    """

    async def __call__(  # type: ignore[override]
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        **kwargs: Any,
    ) -> list[float | None]:
        call = TRLCall.from_kwargs(
            prompts, completions, kwargs, reference_column=self.scorer.reference_column
        )
        return await self.scorer.ascore_reward(self.__name__, call)


class RewardKitTotalRewardFunc:
    """A whole rewardkit config as one TRL reward function returning its total.

    For TRL's CLI (one dotted path per function) and for ``normalize_then_sum`` aggregation,
    where per-component columns would be normalised separately.
    """

    def __init__(self, scorer: RewardKitScorer, name: str = "rewardkit") -> None:
        self.scorer = scorer
        self.__name__ = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__!r}, {self.scorer.pipeline!r})"

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        **kwargs: Any,
    ) -> list[float | None]:
        return self.scorer.total(prompts, completions, kwargs)


def _scorer(
    config: ConfigLike | RewardKitScorer,
    num_generations: int | None,
    reference_column: str | None,
    async_io: bool,
    failed_as: FailedAs,
) -> RewardKitScorer:
    if isinstance(config, RewardKitScorer):
        return config
    return RewardKitScorer(
        config,
        num_generations,
        reference_column=reference_column,
        async_io=async_io,
        failed_as=failed_as,
    )


def build_reward_funcs(
    config: ConfigLike | RewardKitScorer,
    num_generations: int | None,
    *,
    reference_column: str | None = None,
    async_io: bool = True,
    failed_as: FailedAs = "zero",
) -> tuple[list[RewardKitRewardFunc], list[float]]:
    """TRL reward functions for a rewardkit config, and their ``reward_weights``.

    ``config`` is a config file path, a mapping, a validated config or a pipeline (or a
    :class:`RewardKitScorer`, whose own settings then apply).
    ``num_generations`` must equal ``GRPOConfig.num_generations`` (G); completion ``i`` of a
    generation batch is then in group ``i // G``, TRL's own grouping. ``reference_column``
    names the dataset column with the reference answer (default: the first of ``reference``,
    ``ground_truth``, ``answer``, ``solution`` present). ``failed_as="none"`` returns ``None`` instead of 0 for
    rollouts whose outcome is ``timeout`` or ``error`` (see :class:`RewardKitScorer`).

    Pass both to TRL::

        funcs, weights = build_reward_funcs("rewardkit.yaml", num_generations=8)
        args = GRPOConfig(num_generations=8, reward_weights=weights, ...)
        trainer = GRPOTrainer(model, reward_funcs=funcs, args=args, ...)
    """
    scorer = _scorer(config, num_generations, reference_column, async_io, failed_as)
    if not scorer.pipeline.rewards and not scorer.pipeline.shaping:
        raise ConfigError("the rewardkit config has no rewards and no shaping terms")
    weights = scorer.weights
    asynchronous = set(scorer.async_rewards)
    funcs: list[RewardKitRewardFunc] = []
    for comp in scorer.pipeline.rewards:
        cls = AsyncRewardKitRewardFunc if comp.name in asynchronous else RewardKitRewardFunc
        funcs.append(cls(scorer, comp.name, "reward", weights[comp.name]))
    for term in scorer.pipeline.shaping:
        funcs.append(RewardKitRewardFunc(scorer, term.name, "shaping", weights[term.name]))
    return funcs, [f.weight for f in funcs]


def build_total_reward_func(
    config: ConfigLike | RewardKitScorer,
    num_generations: int | None = None,
    *,
    name: str = "rewardkit",
    reference_column: str | None = None,
    failed_as: FailedAs = "zero",
) -> RewardKitTotalRewardFunc:
    """One TRL reward function returning a config's total reward (weight 1); with
    ``failed_as="none"``, ``None`` for a rollout on which every reward timed out or errored."""
    scorer = _scorer(config, num_generations, reference_column, False, failed_as)
    if scorer.async_rewards:
        raise ArgumentError(
            f"this scorer leaves {', '.join(scorer.async_rewards)} to async reward functions, so "
            f"its total would miss them; build it with async_io=False"
        )
    return RewardKitTotalRewardFunc(scorer, name)
