"""Prompts as token ids, cut to the workload's input length the same way on every backend.

The PyTorch backend cuts each prompt to its first ``max_input_tokens`` tokens with the model's
tokenizer. vLLM's own truncation option moved between releases and TensorRT-LLM's keeps the
*last* tokens, so the engine backends tokenize here with the engine's tokenizer and send token
ids: the same input, token for token, whichever backend serves it.
"""

from __future__ import annotations

from typing import Any


def token_prompts(tokenizer: Any, prompts: list[str], max_input_tokens: int) -> list[dict[str, Any]]:
    """One ``{"prompt_token_ids": [...]}`` (the ``TokensPrompt`` both engines accept) per prompt:
    tokenized with special tokens and truncated to its first ``max_input_tokens`` tokens.
    ``tokenizer`` is a Hugging Face tokenizer or a wrapper that forwards calls to one."""
    encoded = tokenizer(prompts, truncation=True, max_length=max_input_tokens)
    return [{"prompt_token_ids": list(ids)} for ids in encoded["input_ids"]]
