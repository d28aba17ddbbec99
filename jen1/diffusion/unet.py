"""UNet1D: the omnidirectional latent diffusion network of JEN-1 (section 4).

One set of weights, two modes per forward call: bidirectional, or unidirectional (causal) where
output frame k depends on input frames <= k only. Input is the in-context concatenation
``[x_t, known * mask, mask]`` (see :func:`jen1.conditioning.tasks.build_unet_input`); text enters
through cross-attention (and a pooled summary added to the time embedding). With
``cfg.controls`` (issue 21) musical controls enter too: a global embedding added to the time
embedding (:mod:`jen1.diffusion.control_embed`) and time-aligned channels concatenated to the
input (:mod:`jen1.conditioning.control_tensors`), through the same causal input conv.

Layout over ``L = len(cfg.channels)`` levels: an input conv; per level ``num_res_blocks`` residual
blocks (each followed by an attention block where ``attn_levels`` is True), one skip, and a
stride-2 down-sampling (not after the last level); a mid block (res, attention, res); then the
mirror image, concatenating each level's skip; SiLU and a zero-initialised output conv.
Inside, activations are channels-last (B, T, C) (see :mod:`jen1.diffusion.layers`); the input
and output keep the (B, C, T) layout of latents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jen1.conditioning.conditions import Conditions
from jen1.conditioning.control_tensors import NUM_FRAME_CHANNELS, ControlTensors, absent_controls
from jen1.config import UNetConfig
from jen1.diffusion.control_embed import ControlEmbedding
from jen1.diffusion.layers import (
    AttentionBlock,
    Conv1d,
    Downsample,
    KeyCache,
    Linear,
    ResBlock,
    TimeEmbedding,
    Upsample,
    upcast,
)
from jen1.errors import Jen1Error


@dataclass
class TextContext:
    """What the U-Net makes of a batch's text, reusable across the steps of one sampling run.

    Made by :meth:`UNet1D.text_context`; ``UNet1D.forward(..., text=...)`` then skips the text
    projection, and each cross-attention layer keeps its keys, values and mask bias in
    ``keys`` on the first call. Valid while the U-Net's weights, the batch's text and the
    precision (autocast) stay as they were.

    Attributes:
        tokens: (B, S', D_cross) projected tokens (the null token where the text is dropped).
        mask: (B, S') bool, True for a real token.
        temb: (B, D_time) the pooled text's term of the time embedding.
        keys: per cross-attention layer, its (B, H, S'', D) keys and values and mask.
    """

    tokens: Tensor
    mask: Tensor
    temb: Tensor
    keys: KeyCache = field(default_factory=dict)


class _Level(nn.Module):
    """Residual blocks (each with an optional attention block) at one resolution."""

    def __init__(
        self, in_channels: int, channels: int, count: int, attn: bool, cfg: UNetConfig
    ) -> None:
        super().__init__()
        self.res = nn.ModuleList(
            ResBlock(
                in_channels if i == 0 else channels,
                channels,
                cfg.time_dim,
                kernel_size=cfg.kernel_size,
                groups=cfg.groups,
                dropout=cfg.dropout,
            )
            for i in range(count)
        )
        self.attn = nn.ModuleList(
            AttentionBlock(channels, cfg.cross_attn_dim, cfg.head_dim)
            for _ in range(count if attn else 0)
        )

    def forward(self, h: Tensor, temb: Tensor, text: TextContext, causal: bool) -> Tensor:
        for i, res in enumerate(self.res):
            h = res(h, temb, causal)
            if self.attn:
                h = self.attn[i](h, text.tokens, text.mask, causal, text.keys)
        return h


class UNet1D(nn.Module):
    """1D U-Net with per-call causal/bidirectional mode and text cross-attention.

    Args:
        cfg: widths, depths, attention levels.
        latent_dim: latent channels C (input has 2C + 1 channels, output C; the K control
            channels, if any, are added inside from ``cond.controls``).
        text_dim: width D of the text encoder's token embeddings.
    """

    def __init__(self, cfg: UNetConfig, latent_dim: int, text_dim: int) -> None:
        super().__init__()
        levels = len(cfg.channels)
        if levels < 1 or len(cfg.attn_levels) != levels:
            raise Jen1Error(
                f"unet.attn_levels needs one entry per unet.channels level ({levels}), "
                f"got {len(cfg.attn_levels)}"
            )
        for i, ch in enumerate(cfg.channels):
            if ch % cfg.groups:
                raise Jen1Error(
                    f"unet.channels entry {ch} is not divisible by unet.groups {cfg.groups}"
                )
            attends = cfg.attn_levels[i] or i == levels - 1  # the mid block always attends
            if attends and ch > cfg.head_dim and ch % cfg.head_dim:
                raise Jen1Error(
                    f"unet.channels entry {ch} (with attention) is not divisible by "
                    f"unet.head_dim {cfg.head_dim}"
                )
        self.cfg = cfg
        self.latent_dim = latent_dim
        self.text_dim = text_dim
        ch = cfg.channels

        self.time_embed = TimeEmbedding(cfg.time_dim)
        self.text_proj = nn.Sequential(nn.LayerNorm(text_dim), Linear(text_dim, cfg.cross_attn_dim))
        self.null_text = nn.Parameter(torch.randn(cfg.cross_attn_dim) * 0.02)
        self.text_pool = Linear(cfg.cross_attn_dim, cfg.time_dim)

        ctl = cfg.controls
        # control conditioning (issue 21); absent from models made before it, whose state
        # dicts therefore keep exactly their keys and shapes
        self.control_embed = (
            ControlEmbedding(ctl, cfg.time_dim) if ctl is not None and ctl.global_embed else None
        )
        self.control_channels = NUM_FRAME_CHANNELS if ctl is not None and ctl.aligned else 0
        self.conv_in = Conv1d(2 * latent_dim + 1 + self.control_channels, ch[0], cfg.kernel_size)
        n = cfg.num_res_blocks
        self.down = nn.ModuleList(
            _Level(ch[i], ch[i], n, cfg.attn_levels[i], cfg) for i in range(levels)
        )
        self.downsample = nn.ModuleList(
            Downsample(ch[i], ch[i + 1], cfg.kernel_size) for i in range(levels - 1)
        )
        mid = dict(kernel_size=cfg.kernel_size, groups=cfg.groups, dropout=cfg.dropout)
        self.mid_res1 = ResBlock(ch[-1], ch[-1], cfg.time_dim, **mid)
        self.mid_attn = AttentionBlock(ch[-1], cfg.cross_attn_dim, cfg.head_dim)
        self.mid_res2 = ResBlock(ch[-1], ch[-1], cfg.time_dim, **mid)
        self.up = nn.ModuleList(
            _Level(2 * ch[i], ch[i], n, cfg.attn_levels[i], cfg) for i in range(levels)
        )
        self.upsample = nn.ModuleList(
            Upsample(ch[i + 1], ch[i], cfg.kernel_size) for i in range(levels - 1)
        )
        self.conv_out = Conv1d(ch[0], latent_dim, cfg.kernel_size)
        nn.init.zeros_(self.conv_out.conv.weight)
        nn.init.zeros_(self.conv_out.conv.bias)

    def _controls(
        self, cond: Conditions, batch: int, num_frames: int, device: torch.device
    ) -> ControlTensors | None:
        """``cond.controls`` checked against this U-Net (None: all absent, if it has controls)."""
        if self.cfg.controls is None:
            if cond.controls is not None:
                raise _refuse_controls()
            return None
        c = cond.controls
        if c is None:
            return absent_controls(batch, num_frames, device)
        if c.batch_size != batch or c.frames.shape[-1] != num_frames:
            raise Jen1Error(
                f"controls are for {c.batch_size} samples of {c.frames.shape[-1]} frames, "
                f"x has {batch} of {num_frames}"
            )
        return c

    @property
    def frame_multiple(self) -> int:
        """Inputs are padded internally to a multiple of this many frames."""
        return 2 ** (len(self.cfg.channels) - 1)

    def encode_text(self, cond: Conditions) -> tuple[Tensor, Tensor]:
        """Project text tokens; dropped samples (and samples without tokens) get the null token.

        Returns:
            (B, S', D_cross) tokens and (B, S') bool mask, S' = max(S, 1).
        """
        emb, mask = cond.text_emb, cond.text_mask.to(torch.bool)
        if emb.shape[1] == 0:
            emb = emb.new_zeros(emb.shape[0], 1, emb.shape[2])
            mask = mask.new_zeros(mask.shape[0], 1)
        text = self.text_proj(emb)  # (B, S, D_cross)
        drop = cond.drop_text_or_false().to(text.device) | ~mask.any(dim=1)  # (B,)
        null = self.null_text.to(text.dtype).expand(text.shape[0], text.shape[1], -1)
        first = torch.zeros_like(mask)
        first[:, 0] = True
        text = torch.where(drop[:, None, None] & first[:, :, None], null, text)
        mask = torch.where(drop[:, None], first, mask)
        return text, mask

    def text_context(self, cond: Conditions) -> TextContext:
        """The text of ``cond`` as the U-Net's layers use it (pass it to :meth:`forward`)."""
        text, text_mask = self.encode_text(cond)  # (B, S, D_cross), (B, S)
        weights = text_mask[:, :, None].to(text.dtype)  # (B, S, 1)
        pooled = (text * weights).sum(1) / weights.sum(1)  # (B, D_cross)
        return TextContext(text, text_mask, self.text_pool(pooled))

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        cond: Conditions,
        causal: bool | None = None,
        *,
        text: TextContext | None = None,
    ) -> Tensor:
        """Predict the raw diffusion target (v, eps or the flow velocity; :mod:`jen1.diffusion.
        objective`).

        T is padded on the right with zeros to a multiple of :attr:`frame_multiple` and trimmed
        again: causal frames never see the padding; bidirectional ones see those (at most
        ``frame_multiple - 1``) zero frames.

        Args:
            x: (B, 2C+1, T) U-Net input ``[x_t, known * mask, mask]``; any T >= 1.
            t: (B,) continuous time in [0, 1] (or a scalar, broadcast).
            cond: text (``text_emb`` (B, S, D), ``text_mask`` (B, S), ``drop_text`` (B,)) and
                musical controls (``controls``, frames (B, K, T); None: all absent). A U-Net
                without control conditioning (``cfg.controls`` None) refuses controls.
            causal: unidirectional mode; None uses ``cfg.causal``.
            text: ``self.text_context(cond)`` made earlier (sampling reuses one for all its
                steps, with the cross-attention keys it caches); None makes it here.

        Returns:
            (B, C, T) raw prediction.
        """
        causal = self.cfg.causal if causal is None else bool(causal)
        batch, channels, num_frames = x.shape
        if channels != 2 * self.latent_dim + 1:
            raise Jen1Error(
                f"UNet1D expects {2 * self.latent_dim + 1} input channels (2C+1), got {channels}"
            )
        t = upcast(torch.as_tensor(t, device=x.device)).expand(batch)
        if text is None:
            text = self.text_context(cond)
        elif text.tokens.shape[0] != batch:
            raise Jen1Error(f"text context is for {text.tokens.shape[0]} samples, x has {batch}")
        temb = self.time_embed(t) + text.temb  # (B, D_time)
        controls = self._controls(cond, batch, num_frames, x.device)
        if self.control_embed is not None:
            temb = temb + self.control_embed(controls)
        if self.control_channels:  # time-aligned controls, concatenated like the mask
            x = torch.cat([x, controls.frames.to(x.dtype)], dim=1)  # (B, 2C+1+K, T)

        # pad on the RIGHT only: causal frames never see the padding, and trimming restores T
        pad = -num_frames % self.frame_multiple
        h = self.conv_in(F.pad(x, (0, pad)).transpose(1, 2), causal)  # (B, T', D) channels-last
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, temb, text, causal)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h, causal)
        h = self.mid_res1(h, temb, causal)
        h = self.mid_attn(h, text.tokens, text.mask, causal, text.keys)
        h = self.mid_res2(h, temb, causal)
        for i in reversed(range(len(self.up))):
            h = self.up[i](torch.cat([h, skips[i]], dim=-1), temb, text, causal)
            if i > 0:
                h = self.upsample[i - 1](h, causal)
        # no normalisation before the output conv: a per-frame norm there would discard the
        # per-frame magnitude the prediction needs (v or eps scale with x_t); measured: faster fit
        out = self.conv_out(F.silu(h), causal)  # (B, T', C)
        return out[:, :num_frames].transpose(1, 2).contiguous()


def _refuse_controls() -> Jen1Error:
    return Jen1Error(
        "this model was trained without musical controls and cannot follow them "
        "(bpm, key, meter, chords); use a model trained with unet.controls"
    )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
