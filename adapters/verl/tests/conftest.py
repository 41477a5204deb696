"""Fixtures for the verl adapter tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest.importorskip("verl", reason="the verl adapter tests need verl[verl-core] 0.9.x")

# --import-mode=importlib puts no test folder on sys.path; the helper module has a unique name,
# so appending this folder (for this conftest and the test modules) shadows nothing.
sys.path.append(str(Path(__file__).parent))
from verl_testlib import build_char_tokenizer


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("char_tokenizer")
    build_char_tokenizer(path)
    return path


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path) -> Any:
    from verl.utils import hf_tokenizer

    return hf_tokenizer(str(tokenizer_dir))
