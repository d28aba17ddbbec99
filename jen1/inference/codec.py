"""Waveform <-> normalised latents for inference: chunked, optionally under bf16 autocast."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn


class LatentCodec:
    """An autoencoder (with its fitted latent normaliser) used for inference on ``device``.

    Encoding and decoding run in chunks (``cfg.chunk_seconds``), so memory stays flat with
    duration; ``bf16`` runs them under bf16 autocast (except the conv codec on a CPU, which is
    faster to start in float32). Outputs are float32.
    """

    def __init__(self, autoencoder: nn.Module, device: torch.device, bf16: bool) -> None:
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.device = device
        # On a CPU the conv codec's bf16 kernels cost more to create (once per shape and
        # process) than they save on the lengths one command decodes (benchmarks/README.md,
        # start-up); the STFT codec's are cheap to create and faster than float32.
        arch = getattr(getattr(autoencoder, "cfg", None), "arch", "stft")
        self.bf16 = bf16 and not (device.type == "cpu" and arch == "conv")

    @property
    def _cfg(self):
        return getattr(self.autoencoder, "cfg", None)

    def _coded(self, z: torch.Tensor, known=None) -> torch.Tensor:
        """Normalised latents -> what the decoder takes: denormalised, and with a magnitude
        view of the low band its coefficients rebuilt, over the whole length at once (so the
        rebuilt phase runs on across the decoder's windows). ``known``: (the autoencoder's
        latents (B, C, T) from :meth:`encode_known`, mask (B, 1, T), 1 = known frame)."""
        from jen1.autoencoder.lowband_view import from_view

        z = self.autoencoder.normalizer.denormalize(z.float())
        if known is not None:
            known = (known[0].to(z.device).float(), known[1].to(z.device).float())
        return from_view(self._cfg, z, known)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, 2, L) waveform -> (B, C, T) normalised latents."""
        return self.encode_known(wav)[0]

    @torch.inference_mode()
    def encode_known(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2, L) -> (normalised latents, the autoencoder's own latents), each (B, C, T).

        The second is what ``decode(..., known=(it, mask))`` keeps exactly on known frames
        (with a magnitude view of the low band, the normalised latents lack its phase)."""
        from jen1.autoencoder.lowband_view import to_view

        with self.autocast():
            z = self.autoencoder.encode_chunked(wav.to(self.device)).float()
        return self.autoencoder.normalizer.normalize(to_view(self._cfg, z)), z

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, length: int | None = None, known=None) -> torch.Tensor:
        """(B, C, T) normalised latents -> (B, 2, L) waveform in [-1, 1] (``known``: see
        :meth:`_coded`)."""
        z = self._coded(z, known)
        with self.autocast():
            wav = self.autoencoder.decode_chunked(z, length=length)
        return wav.float().clamp(-1, 1)

    @torch.inference_mode()
    def decode_stream(
        self, z: torch.Tensor, length: int | None = None, known=None
    ) -> Iterator[torch.Tensor]:
        """:meth:`decode` one decoder window at a time: (B, 2, n) pieces in order.

        Concatenated they equal ``decode(z, length, known)``; memory holds one window.
        """
        z = self._coded(z, known)
        pieces = self.autoencoder.decode_stream(z, length=length)
        while True:
            with self.autocast():
                piece = next(pieces, None)
            if piece is None:
                return
            yield piece.float().clamp(-1, 1)
