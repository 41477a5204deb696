"""One implementation for a sync and an async twin: a generator core and two drivers.

A core is a generator that yields *requests* (whatever its blocking steps need: a job to wait
for, rewards to score) and receives each request's answer; its ``return`` value is the result.
:func:`run_sync` answers requests with a plain function, :func:`run_async` with a coroutine
function. An exception raised while answering is thrown into the core at its ``yield``, so the
core's own ``try``/``except`` handles it the same way in both worlds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Core", "run_async", "run_sync"]

T = TypeVar("T")
#: A core: yields requests, receives their answers, returns the result.
Core = Generator[Any, Any, T]


def run_sync(core: Core[T], answer: Callable[[Any], Any]) -> T:
    """Drive ``core`` to its result, answering each request with ``answer(request)``."""
    try:
        request = next(core)
        while True:
            try:
                reply = answer(request)
            except Exception as exc:
                request = core.throw(exc)
            else:
                request = core.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_async(core: Core[T], answer: Callable[[Any], Awaitable[Any]]) -> T:
    """Drive ``core`` to its result, answering each request with ``await answer(request)``."""
    try:
        request = next(core)
        while True:
            try:
                reply = await answer(request)
            except Exception as exc:
                request = core.throw(exc)
            else:
                request = core.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
