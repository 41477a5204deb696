"""Shared fixtures for the TRL adapter tests: a fresh tiny offline causal LM with its tokenizer,
and a prompt dataset. The builders live in ``trl_tiny.py``; use them directly for another seed or
vocabulary, and ``trl_tiny.tiny_grpo_args(output_dir, **overrides)`` for ``GRPOConfig``::

    def test_x(tiny_model_and_tokenizer, tiny_prompts, tmp_path):
        model, tokenizer = tiny_model_and_tokenizer
        args = GRPOConfig(**tiny_grpo_args(tmp_path))
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The offline environment variables are set by the repository's root conftest.py.
# --import-mode=importlib puts no test folder on sys.path; the sibling helper modules have unique
# names (trl_*), so appending this folder shadows nothing.
sys.path.append(str(Path(__file__).parent))
from trl_tiny import build_tiny_model_and_tokenizer, tiny_prompt_texts


@pytest.fixture
def tiny_model_and_tokenizer() -> tuple[Any, Any]:
    """A fresh tiny Qwen2 causal LM and its word-level tokenizer (seed 0)."""
    return build_tiny_model_and_tokenizer()


@pytest.fixture
def tiny_prompts() -> Any:
    """A ``datasets.Dataset`` with a ``prompt`` column of 8 arithmetic prompts."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": tiny_prompt_texts(8)})
