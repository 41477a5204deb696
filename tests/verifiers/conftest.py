"""Shared engine for the verifier tests: starting workers (and warming math-verify) is the slow
part, so one engine serves the module-independent tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rewardkit import EngineConfig, ExecutionEngine, ScoringContext

TEST_DEADLINE_S = 1.0  # the same as engine_fns.TEST_DEADLINE_S

# Engine workers import the test functions (engine_fns) by module name: make this folder
# importable here and, since spawn copies sys.path, in the workers too.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def engine() -> Iterator[ExecutionEngine]:
    with ExecutionEngine(EngineConfig(workers=2, timeout_s=TEST_DEADLINE_S)) as eng:
        yield eng


@pytest.fixture()
def context(engine: ExecutionEngine) -> ScoringContext:
    return ScoringContext(engine=engine)
