"""Per-sample random generators.

Training draws every random number of a sample (noise, masks, task, time) from a generator
seeded by that sample's position in the data stream, so results do not depend on how a global
batch is split across processes or micro-batches (DDP runs equal single-process runs) and a
resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Generators = torch.Generator | Sequence[torch.Generator] | None


def sample_generators(seed: int, sample_ids: Sequence[int] | torch.Tensor, salt: int = 0,
                      device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One generator per sample, seeded by (seed, salt, sample id)."""
    ids = sample_ids.tolist() if isinstance(sample_ids, torch.Tensor) else list(sample_ids)
    gens = []
    for i in ids:
        g = torch.Generator(device=device)
        g.manual_seed((seed * 1_000_003 + salt * 7_919 + int(i) * 2_654_435_761) % (2**63 - 1))
        gens.append(g)
    return gens


def randn(shape: Sequence[int], generator: Generators, *, device: torch.device | str = "cpu",
          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``torch.randn(shape)``; with a list of generators, row b comes from generator b."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    return torch.stack([torch.randn(tuple(shape[1:]), generator=g, device=g.device, dtype=dtype)
                        for g in generator]).to(device)


def rand(shape: Sequence[int], generator: Generators, *, device: torch.device | str = "cpu",
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``torch.rand(shape)``; with a list of generators, row b comes from generator b."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    return torch.stack([torch.rand(tuple(shape[1:]), generator=g, device=g.device, dtype=dtype)
                        for g in generator]).to(device)
