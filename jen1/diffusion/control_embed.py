"""The U-Net's global control embedding: tempo, key and meter as one (B, D_time) vector.

Tempo enters as Fourier features of log2(bpm / 120) (smooth in the ratio of tempi, so 118 and
122 BPM are neighbours and the network can interpolate between trained tempi); key (tonic and
mode) and meter (numerator and denominator) as embedding tables whose row 0 is the learned
"absent" entry. The sum goes through a zero-initialised projection, so a U-Net given this
module starts out exactly as it was without it (fine-tuning an existing model).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from jen1.conditioning.control_tensors import ControlTensors
from jen1.conditioning.controls import METER_DENOMINATORS, METER_NUMERATORS
from jen1.config import ControlConfig
from jen1.diffusion.layers import Linear


class ControlEmbedding(nn.Module):
    """Global controls -> (B, D) added to the time/text embedding.

    Args:
        cfg: the control config (``fourier_features`` frequencies).
        dim: the time-embedding width D.
    """

    def __init__(self, cfg: ControlConfig, dim: int) -> None:
        super().__init__()
        # octave-spaced frequencies over log2-tempo: the lowest spans the whole 30-300 range
        freqs = 0.25 * 2.0 ** torch.arange(cfg.fourier_features, dtype=torch.float32)
        self.register_buffer("freqs", freqs, persistent=False)
        self.bpm_proj = Linear(2 * cfg.fourier_features, dim)
        self.bpm_absent = nn.Parameter(torch.zeros(dim))
        self.tonic = nn.Embedding(13, dim)  # 0 absent, 1..12 C..B
        self.mode = nn.Embedding(3, dim)  # 0 absent, major, minor
        self.meter_num = nn.Embedding(max(METER_NUMERATORS) + 1, dim)
        self.meter_den = nn.Embedding(len(METER_DENOMINATORS) + 1, dim)
        for emb in (self.tonic, self.mode, self.meter_num, self.meter_den):
            nn.init.normal_(emb.weight, std=0.02)
        self.out = nn.Sequential(nn.SiLU(), Linear(dim, dim))
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)

    def forward(self, c: ControlTensors) -> Tensor:
        """(B, D) float32 embedding of ``c``'s global controls."""
        given = c.bpm > 0  # (B,)
        x = torch.log2(torch.where(given, c.bpm, 120.0) / 120.0)[:, None] * self.freqs  # (B, F)
        feats = torch.cat([torch.sin(2 * math.pi * x), torch.cos(2 * math.pi * x)], dim=-1)
        bpm = torch.where(given[:, None], self.bpm_proj(feats).float(), self.bpm_absent.float())
        h = bpm + self.tonic(c.tonic) + self.mode(c.mode)
        h = h + self.meter_num(c.meter_num) + self.meter_den(c.meter_den)
        return self.out(h).float()
