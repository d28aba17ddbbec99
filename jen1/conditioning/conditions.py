"""The conditioning data the U-Net receives: text tokens plus the in-context known latent and mask.

The mask convention (``1`` = known, ``0`` = to generate) is stated in
:mod:`jen1.conditioning.tasks`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from jen1.conditioning.control_tensors import ControlTensors, absent_controls, concat_controls


@dataclass
class Conditions:
    """Everything the U-Net is conditioned on, for a batch of B samples.

    Attributes:
        text_emb: (B, S, D) per-token text embeddings from the frozen text encoder.
        text_mask: (B, S) bool, True for a real token, False for padding.
        known: (B, C, T) normalised latent whose frames with ``mask == 1`` are given.
        mask: (B, 1, T) float, 1 = known frame, 0 = frame to generate.
        drop_text: (B,) bool or None; True replaces that sample's text with the U-Net's learned
            null text (classifier-free guidance). None means keep the text of every sample.
        controls: musical controls (:mod:`jen1.conditioning.control_tensors`), their frames
            (B, K, T) aligned with ``known``; None: no controls (all absent for a U-Net with
            control conditioning; a U-Net without it refuses anything else).
    """

    text_emb: Tensor
    text_mask: Tensor
    known: Tensor
    mask: Tensor
    drop_text: Tensor | None = None
    controls: ControlTensors | None = None

    @property
    def batch_size(self) -> int:
        return self.known.shape[0]

    def select(self, index: Tensor) -> "Conditions":
        """Return the samples at ``index`` (a (K,) long or (B,) bool tensor), in that order."""
        return Conditions(
            text_emb=self.text_emb[index],
            text_mask=self.text_mask[index],
            known=self.known[index],
            mask=self.mask[index],
            drop_text=None if self.drop_text is None else self.drop_text[index],
            controls=None if self.controls is None else self.controls.select(index),
        )

    def with_null_text(self) -> "Conditions":
        """Return the same conditions with the text of every sample dropped, and every control
        (the unconditional branch of guidance; trained so by :func:`drop_controls`)."""
        drop = torch.ones(self.batch_size, dtype=torch.bool, device=self.known.device)
        controls = None if self.controls is None else self.controls.all_dropped()
        return dataclasses.replace(self, drop_text=drop, controls=controls)

    def drop_text_or_false(self) -> Tensor:
        """(B,) bool: ``drop_text``, or all False when it is None."""
        if self.drop_text is not None:
            return self.drop_text.to(torch.bool)
        return torch.zeros(self.batch_size, dtype=torch.bool, device=self.known.device)


def pad_text(emb: Tensor, mask: Tensor, num_tokens: int) -> tuple[Tensor, Tensor]:
    """Right-pad text tokens to ``num_tokens`` (padding is masked out).

    Args:
        emb: (B, S, D) embeddings.
        mask: (B, S) bool mask.
        num_tokens: target S' >= S.

    Returns:
        (B, S', D) embeddings and (B, S') mask.
    """
    extra = num_tokens - emb.shape[1]
    if extra <= 0:
        return emb, mask
    return F.pad(emb, (0, 0, 0, extra)), F.pad(mask.to(torch.bool), (0, extra), value=False)


def concat_conditions(parts: list[Conditions]) -> Conditions:
    """Concatenate conditions along the batch; text of different lengths is right-padded.

    Args:
        parts: conditions with the same C, T and text width D.

    Returns:
        Conditions of batch size ``sum(p.batch_size for p in parts)``.
    """
    num_tokens = max(p.text_emb.shape[1] for p in parts)
    texts = [pad_text(p.text_emb, p.text_mask, num_tokens) for p in parts]
    controls = None
    if any(p.controls is not None for p in parts):  # parts without controls: all absent
        controls = concat_controls([
            p.controls if p.controls is not None
            else absent_controls(p.batch_size, p.known.shape[-1], p.known.device)
            for p in parts
        ])  # fmt: skip
    return Conditions(
        text_emb=torch.cat([e for e, _ in texts], dim=0),
        text_mask=torch.cat([m for _, m in texts], dim=0),
        known=torch.cat([p.known for p in parts], dim=0),
        mask=torch.cat([p.mask for p in parts], dim=0),
        drop_text=torch.cat([p.drop_text_or_false() for p in parts], dim=0),
        controls=controls,
    )
