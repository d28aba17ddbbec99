"""A request's text, encoded once for a whole sampling run: prompts, negative prompt, null text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TextInputs:
    """A batch's text for sampling.

    Attributes:
        emb: (B, S, D) prompt tokens, or the null text (B, 1, D) when ``dropped``.
        mask: (B, S) bool, True for a real token.
        neg: the negative prompt's (B, S', D) tokens and (B, S') mask, or None.
        dropped: no prompt: sample unconditionally (the U-Net's learned null text, no guidance).
    """

    emb: torch.Tensor
    mask: torch.Tensor
    neg: tuple[torch.Tensor, torch.Tensor] | None
    dropped: bool


def null_text(batch: int, dim: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Text input (B, 1, D) / (B, 1) that the U-Net replaces by its learned null embedding."""
    emb = torch.zeros(batch, 1, dim, device=device)
    return emb, torch.zeros(batch, 1, dtype=torch.bool, device=device)


def encode_text_inputs(
    encoder: Any,
    prompts: tuple[str, ...] | None,
    negative_prompt: str | None,
    batch: int,
    dim: int,
    device: torch.device,
) -> TextInputs:
    """Encode ``prompts`` (one per batch item, or None) and ``negative_prompt`` (shared)."""

    def encode(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        emb, mask = encoder.encode(texts)
        return emb.to(device), mask.to(device)

    emb, mask = encode(list(prompts)) if prompts else null_text(batch, dim, device)
    neg = None
    if negative_prompt is not None:
        n_emb, n_mask = encode([negative_prompt])
        neg = n_emb.expand(batch, -1, -1), n_mask.expand(batch, -1)
    return TextInputs(emb, mask, neg, dropped=prompts is None)
