"""``tiny-random:gpt2``: a 2-layer GPT-2 with random weights and a tokenizer built in code.

No download, deterministic from the seed, and small enough that ``generate()`` runs on a CPU in
well under a second — so CI exercises the real PyTorch/transformers code path end to end.
Energy figures from it mean nothing; it exists to test camp, not to be measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.workload import VOCABULARY

TINY_PREFIX = "tiny-random:"
SPECIAL_TOKENS = ("[UNK]", "[PAD]", "[EOS]")


def is_tiny(model: str) -> bool:
    return model.startswith(TINY_PREFIX)


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = list(SPECIAL_TOKENS) + sorted(set(VOCABULARY))
    tokenizer = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )


def build_tiny(model: str, seed: int) -> tuple[Any, Any]:
    """(model, tokenizer) for ``tiny-random:<arch>``; only ``gpt2`` is built in."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    arch = model[len(TINY_PREFIX) :]
    if arch != "gpt2":
        raise ValueError(f"unknown tiny model {model!r}: only 'tiny-random:gpt2' is built in")
    tokenizer = build_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval(), tokenizer


def save_tiny(model: str, seed: int, directory: Path) -> str:
    """Write ``tiny-random:<arch>`` as a checkpoint into ``directory``; returns the path to load."""
    network, tokenizer = build_tiny(model, seed)
    network.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)
