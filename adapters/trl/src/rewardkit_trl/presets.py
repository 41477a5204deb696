"""Ready-made reward functions for TRL's command line, which takes dotted paths and no arguments.

::

    trl grpo --config grpo.yaml   # with  reward_funcs: [rewardkit_trl.presets.math_accuracy]

Each preset is one reward function returning its config's total reward, built on first call
(importing this module loads no verifier). They read these environment variables, which the
YAML's ``env:`` block can set:

``REWARDKIT_CONFIG``
    Path of a rewardkit config file; :data:`config` scores with it (``rewardkit`` column).
``REWARDKIT_NUM_GENERATIONS``
    TRL's ``num_generations``; groups are then cut as TRL cuts them. Unset, runs of equal
    prompts form the groups, which matches TRL unless a batch holds one prompt twice in a row.
``REWARDKIT_REFERENCE_COLUMN``
    The dataset column with the reference; unset, the first of ``reference``, ``ground_truth``,
    ``answer``, ``solution`` present.
``REWARDKIT_FAILED_AS``
    ``zero`` (default) or ``none``: what a rollout whose rewards all timed out or errored
    scores (``none``: TRL leaves it out of the group baseline and gives it advantage 0, unless
    another reward function scores it; see docs/trl.md).

The presets keep no state across checkpoints; for stateful shaping (``ucb_exploration``) use
:class:`~rewardkit_trl.RewardKitGRPOTrainer`, which saves it in each checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from rewardkit import ConfigError
from rewardkit_trl._reward_funcs import RewardKitTotalRewardFunc, build_total_reward_func

__all__ = [
    "CONFIG_ENV_VAR",
    "FAILED_AS_ENV_VAR",
    "NUM_GENERATIONS_ENV_VAR",
    "REFERENCE_COLUMN_ENV_VAR",
    "PresetRewardFunc",
    "config",
    "exact_match",
    "math_accuracy",
    "numeric_accuracy",
]

CONFIG_ENV_VAR = "REWARDKIT_CONFIG"
NUM_GENERATIONS_ENV_VAR = "REWARDKIT_NUM_GENERATIONS"
REFERENCE_COLUMN_ENV_VAR = "REWARDKIT_REFERENCE_COLUMN"
FAILED_AS_ENV_VAR = "REWARDKIT_FAILED_AS"


class PresetRewardFunc:
    """A named reward function whose rewardkit config is resolved on first call.

    ``config`` is a config mapping, or None to read the file named by ``REWARDKIT_CONFIG``.
    """

    def __init__(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        self.__name__ = name
        self.config = config
        self._func: RewardKitTotalRewardFunc | None = None

    def __repr__(self) -> str:
        source = f"${CONFIG_ENV_VAR}" if self.config is None else "built-in config"
        return f"PresetRewardFunc({self.__name__!r}, {source})"

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.__name__, "config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"], state["config"])  # type: ignore[misc]

    @property
    def func(self) -> RewardKitTotalRewardFunc:
        """The reward function, built from the config and environment on first use."""
        if self._func is None:
            source: Any = self.config
            if source is None:
                source = os.environ.get(CONFIG_ENV_VAR)
                if not source:
                    raise ConfigError(
                        f"rewardkit_trl.presets.{self.__name__} reads its config file from "
                        f"${CONFIG_ENV_VAR}, which is not set; set it in the YAML's env: block"
                    )
            raw_g = os.environ.get(NUM_GENERATIONS_ENV_VAR)
            try:
                num_generations = int(raw_g) if raw_g else None
            except ValueError:
                raise ConfigError(
                    f"${NUM_GENERATIONS_ENV_VAR} must be an integer, got {raw_g!r}"
                ) from None
            failed_as = os.environ.get(FAILED_AS_ENV_VAR) or "zero"
            if failed_as not in ("zero", "none"):
                raise ConfigError(
                    f"${FAILED_AS_ENV_VAR} must be 'zero' or 'none', got {failed_as!r}"
                )
            self._func = build_total_reward_func(
                source,
                num_generations,
                name=self.__name__,
                reference_column=os.environ.get(REFERENCE_COLUMN_ENV_VAR) or None,
                failed_as=failed_as,  # type: ignore[arg-type]
            )
        return self._func

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        return self.func(prompts, completions, **kwargs)


def _single(type_name: str, name: str) -> PresetRewardFunc:
    return PresetRewardFunc(name, {"rewards": [{"type": type_name, "name": name}]})


#: math-verify answer checking against the reference column (1 correct, 0 otherwise).
math_accuracy = _single("math", "math_accuracy")
#: GSM8K-style numeric answers (``#### 42`` or the last number) against the reference.
numeric_accuracy = _single("numeric", "numeric_accuracy")
#: Normalised exact string match against the reference.
exact_match = _single("exact", "exact_match")
#: The total of the config file named by ``$REWARDKIT_CONFIG``.
config = PresetRewardFunc("rewardkit")
