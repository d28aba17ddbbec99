"""Latent normalisation: channel-wise zero mean, then ZCA whitening (JEN-1 Algorithm 1).

Statistics are accumulated incrementally over batches in float64 (sum and sum of outer products
over all frames), then ``finalize`` eigen-decomposes the covariance ``Sigma = U diag(s) U^T`` and
sets the ZCA transforms (all C channels are kept; the latent stays channel-aligned)::

    whiten   = U diag(1 / sqrt(s + eps)) U^T
    unwhiten = U diag(sqrt(s + eps)) U^T       (exact inverse of whiten)
    normalize(z)   = whiten @ (z - mean)
    denormalize(z') = unwhiten @ z' + mean

Before ``finalize`` the transform is the identity. Persistent buffers (saved in the state dict):
``mean (C,)``, ``whiten (C, C)``, ``unwhiten (C, C)``, ``count ()`` = frames used (0: not fitted).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn


class LatentNormalizer(nn.Module):
    """Incremental channel mean + ZCA whitening of latents (B, C, T)."""

    mean: Tensor
    whiten: Tensor
    unwhiten: Tensor
    count: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("whiten", torch.eye(channels))
        self.register_buffer("unwhiten", torch.eye(channels))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._reset_accumulators()

    def _reset_accumulators(self) -> None:
        # Plain attributes (not buffers): float64, never cast by .to(dtype), never saved.
        self.acc_n = 0
        self.acc_sum = torch.zeros(self.channels, dtype=torch.float64)
        self.acc_outer = torch.zeros(self.channels, self.channels, dtype=torch.float64)

    @property
    def fitted(self) -> bool:
        """True once :meth:`finalize` has set statistics."""
        return int(self.count) > 0

    @torch.no_grad()
    def update(self, z: Tensor) -> None:
        """Accumulate statistics of a batch of latents z (B, C, T) (every frame counts once)."""
        if z.dim() != 3 or z.shape[1] != self.channels:
            raise ValueError(f"expected z of shape (B, {self.channels}, T), got {tuple(z.shape)}")
        x = rearrange(z.detach().to(device="cpu", dtype=torch.float64), "b c t -> (b t) c")
        self.acc_n += x.shape[0]
        self.acc_sum += x.sum(0)
        self.acc_outer += x.T @ x

    @torch.no_grad()
    def finalize(self, eps: float = 1e-5) -> None:
        """Set mean and ZCA (un)whitening from the accumulated statistics, then reset them."""
        if self.acc_n < 2:
            raise ValueError("LatentNormalizer.finalize needs at least 2 accumulated frames")
        n = self.acc_n
        mean = self.acc_sum / n
        cov = (self.acc_outer - n * torch.outer(mean, mean)) / (n - 1)
        cov = 0.5 * (cov + cov.T)
        s, u = torch.linalg.eigh(cov)
        s = s.clamp_min(0.0) + eps
        whiten = u @ torch.diag(s.rsqrt()) @ u.T
        unwhiten = u @ torch.diag(s.sqrt()) @ u.T
        dev = self.mean.device
        self.mean.copy_(mean.to(dev))
        self.whiten.copy_(whiten.to(dev))
        self.unwhiten.copy_(unwhiten.to(dev))
        self.count.fill_(n)
        self._reset_accumulators()

    def normalize(self, z: Tensor) -> Tensor:
        """Raw latent z (B, C, T) -> whitened z' (B, C, T), computed in float32, dtype of z."""
        with torch.autocast(z.device.type, enabled=False):
            x = z.float() - self.mean.float()[:, None]
            out = torch.einsum("dc,bct->bdt", self.whiten.float(), x)
        return out.to(z.dtype)

    def denormalize(self, z: Tensor) -> Tensor:
        """Whitened z' (B, C, T) -> raw latent z (B, C, T); exact inverse of :meth:`normalize`."""
        with torch.autocast(z.device.type, enabled=False):
            out = torch.einsum("dc,bct->bdt", self.unwhiten.float(), z.float())
            out = out + self.mean.float()[:, None]
        return out.to(z.dtype)
