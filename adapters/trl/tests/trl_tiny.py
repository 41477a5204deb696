"""A tiny offline causal LM, its tokenizer, prompts and ``GRPOConfig`` settings that make a real
``GRPOTrainer`` run take well under a second per step on a 2-core CPU (recipe: the TRL
integration notes, section 10).

Shared by the TRL adapter tests (through the fixtures in ``conftest.py``), their torchrun worker
scripts and ``benchmarks/mask_overhead.py``; a plain module rather than ``conftest`` because
several ``conftest`` modules exist in one pytest session.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Scripts import this module before transformers: nothing may reach a model hub.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<unk>", "<s>", "</s>")
#: Words of the default vocabulary: enough for arithmetic prompts and answers.
WORDS: tuple[str, ...] = (
    "what", "is", "plus", "minus", "times", "the", "answer", "so", "wait", "think",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
)  # fmt: skip


def build_tiny_tokenizer(words: Sequence[str] = WORDS) -> Any:
    """A word-level fast tokenizer (left padding, as GRPOTrainer needs) over ``words``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate((*SPECIAL_TOKENS, *words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
    )


def build_tiny_model_and_tokenizer(
    words: Sequence[str] = WORDS,
    *,
    seed: int = 0,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
) -> tuple[Any, Any]:
    """A fresh randomly initialised 2-layer Qwen2 (~30k parameters) and its tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tiny_tokenizer(words)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    # TRL reads EOS/pad from the generation config, not the model config.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model, tokenizer


def tiny_prompt_texts(n: int = 8) -> list[str]:
    """``n`` short arithmetic prompts (plain text, no chat template)."""
    return [f"what is {i % 10} plus {(3 * i) % 10}" for i in range(n)]


def tiny_grpo_args(output_dir: str | Path, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``GRPOConfig`` that keep a run tiny, offline and CPU-only."""
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "dataloader_num_workers": 0,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 8,
        "max_steps": 2,
        "logging_steps": 1,
        "learning_rate": 1e-4,
        "seed": 0,
        "disable_tqdm": True,
    }
    args.update(overrides)
    return args
