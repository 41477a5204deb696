"""Helpers for the verl adapter tests: a real (character-level) tokenizer saved to disk, verl
configs, and DataProtos built the way verl's agent loop builds them.

(Not in conftest.py: the repository root has a conftest.py too, and ``from conftest import``
would find whichever was imported first.)
"""

from __future__ import annotations

import contextlib
import os
import string
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def build_char_tokenizer(path: Path) -> Any:
    """A real Hugging Face fast tokenizer, one token per printable character, saved at ``path``.

    Character-level, so any text round-trips through encode/decode exactly (the verifiers see
    what the test wrote) and nothing is downloaded.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [c for c in string.printable if c not in "\x0b\x0c"]
    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<unk>", *chars])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    fast.save_pretrained(str(path))
    return fast


def make_dataproto(
    tokenizer: Any,
    prompts: Sequence[Any],
    responses: Sequence[str],
    *,
    ground_truths: Sequence[Any],
    uids: Sequence[str],
    data_source: str = "test",
    indices: Sequence[int] | None = None,
) -> Any:
    """A verl ``DataProto``: left-padded prompts, right-padded responses, the dataset's fields.

    ``prompts`` are chat-message lists (stored as ``raw_prompt``, as verl's RL dataset does).
    """
    import numpy as np
    import torch
    from verl import DataProto

    def text_of(p: Any) -> str:
        return p if isinstance(p, str) else " ".join(m["content"] for m in p)

    pad = tokenizer.pad_token_id
    p_ids = [tokenizer.encode(text_of(p)) for p in prompts]
    r_ids = [[*tokenizer.encode(r), tokenizer.eos_token_id] for r in responses]
    P = max(map(len, p_ids))
    R = max(map(len, r_ids))
    n = len(prompts)
    prompt_t = torch.full((n, P), pad, dtype=torch.long)
    resp_t = torch.full((n, R), pad, dtype=torch.long)
    attn = torch.zeros((n, P + R), dtype=torch.long)
    for i, (p, r) in enumerate(zip(p_ids, r_ids)):
        prompt_t[i, P - len(p) :] = torch.tensor(p)
        resp_t[i, : len(r)] = torch.tensor(r)
        attn[i, P - len(p) : P] = 1
        attn[i, P : P + len(r)] = 1
    input_ids = torch.cat([prompt_t, resp_t], dim=1)
    position_ids = (attn.cumsum(dim=1) - 1).clamp(min=0)

    def objects(values: Sequence[Any]) -> np.ndarray:
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
        return arr

    indices = list(range(n)) if indices is None else list(indices)
    return DataProto.from_dict(
        tensors={
            "prompts": prompt_t,
            "responses": resp_t,
            "input_ids": input_ids,
            "attention_mask": attn,
            "position_ids": position_ids,
            "response_mask": attn[:, P:],
        },
        non_tensors={
            "raw_prompt": objects([list(p) if not isinstance(p, str) else p for p in prompts]),
            "data_source": objects([data_source] * n),
            "reward_model": objects([{"ground_truth": g, "style": "rule"} for g in ground_truths]),
            "extra_info": objects([{"index": i, "split": "train"} for i in indices]),
            "index": objects(indices),
            "uid": objects(list(uids)),
        },
    )


def verl_config(
    rewardkit_config: Any, *, tokenizer_dir: Path | None = None, **reward_kwargs: Any
) -> Any:
    """The parts of verl's trainer config the reward loop reads, with rewardkit selected."""
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "actor_rollout_ref": {
                "model": {
                    "path": str(tokenizer_dir) if tokenizer_dir else None,
                    "tokenizer_path": None,
                }
            },
            "reward": {
                "num_workers": 1,
                "custom_reward_function": {"path": None, "name": "compute_score"},
                "reward_manager": {"source": "register", "name": "rewardkit"},
                "reward_model": {"enable": False},
                "reward_kwargs": {"rewardkit_config": rewardkit_config, **reward_kwargs},
            },
        }
    )


def generated_trainer_config(rewardkit_config: Any = None) -> Any:
    """verl's full default trainer config (``_generated_ppo_trainer.yaml``, what Hydra composes
    for ``main_ppo``) with rewardkit's reward manager and trainer selected."""
    import verl
    from omegaconf import OmegaConf, open_dict

    path = Path(verl.__file__).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"
    config = OmegaConf.load(path)
    config.trainer.v1.trainer_mode = "rewardkit"
    config.reward.reward_manager.name = "rewardkit"
    with open_dict(config):
        config.reward.reward_kwargs = {
            "rewardkit_config": rewardkit_config or {"rewards": [{"type": "math"}]}
        }
    return config


# --------------------------------------------------------------------------- inside Ray actors
# Called through ``actor.__ray_call__``; they live here (importable in Ray workers, whose
# PYTHONPATH the tests extend) because functions from a test module pickle by reference.


def engine_worker_pids(reward_loop_worker: Any) -> list[int]:
    """The rewardkit engine's worker processes inside a verl ``RewardLoopWorker`` actor.

    Reads the pipeline's engine without starting one: a closed pipeline refuses ``.engine``
    (``EngineClosedError``), and a closed or never-started engine has no workers.
    """
    engine = reward_loop_worker.reward_manager.scorer.pipeline._engine
    return [] if engine is None else engine.worker_pids()


def close_scorer(reward_loop_worker: Any) -> None:
    reward_loop_worker.reward_manager.scorer.close()


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def rollouts_of_dataproto(tokenizer: Any, data: Any) -> list[Any]:
    """The rollouts the trainer rebuilds for shaping, from a DataProto made by make_dataproto."""
    from rewardkit_verl._rollouts import rollout_of

    P = data.batch["prompts"].shape[1]
    out = []
    for i in range(len(data)):
        valid = int(data.batch["attention_mask"][i, P:].sum())
        nt = {k: v[i] for k, v in data.non_tensor_batch.items()}
        out.append(
            rollout_of(
                prompt=nt["raw_prompt"],
                completion=tokenizer.decode(
                    data.batch["responses"][i, :valid], skip_special_tokens=True
                ),
                group=nt["uid"],
                reward_model=nt["reward_model"],
                data_source=nt["data_source"],
                extra_info=nt["extra_info"],
                index=nt["index"],
            )
        )
    return out


@contextlib.contextmanager
def local_ray() -> Iterator[Any]:
    """A local Ray cluster for a test module (skips without ray); actors import this folder."""
    import pytest

    ray = pytest.importorskip("ray")
    tests_dir = str(Path(__file__).parent)
    ray.init(
        num_cpus=4,  # logical: TransferQueue's controller and storage reserve one each
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {
                "PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")]),
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
            }
        },
    )
    yield ray
    ray.shutdown()
