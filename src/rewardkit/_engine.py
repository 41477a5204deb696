"""PLACEHOLDER - replaced by the execution-engine work (issue #3). In-process, no deadlines."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from rewardkit._config import EngineConfig
from rewardkit._rollout import RewardResult

__all__ = ["ExecutionEngine"]


class ExecutionEngine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()

    def map(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        *,
        keys: Sequence[Hashable] | None = None,
        timeout_s: float | None = None,
    ) -> list[RewardResult]:
        out = []
        for item in items:
            try:
                out.append(fn(item))
            except Exception as exc:
                out.append(RewardResult.error(f"{type(exc).__name__}: {exc}"))
        return out

    async def amap(self, fn, items, *, keys=None, timeout_s=None):  # type: ignore[no-untyped-def]
        return self.map(fn, items, keys=keys, timeout_s=timeout_s)

    def close(self) -> None:
        pass

    def __enter__(self) -> ExecutionEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
