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


def sample_generators(
    seed: int,
    sample_ids: Sequence[int] | torch.Tensor,
    salt: int = 0,
    device: str | torch.device = "cpu",
) -> list[torch.Generator]:
    """One generator per sample, seeded by (seed, salt, sample id)."""
    ids = sample_ids.tolist() if isinstance(sample_ids, torch.Tensor) else list(sample_ids)
    gens = []
    for i in ids:
        g = torch.Generator(device=device)
        g.manual_seed((seed * 1_000_003 + salt * 7_919 + int(i) * 2_654_435_761) % (2**63 - 1))
        gens.append(g)
    return gens


def _draw(
    fn, shape: Sequence[int], generator: Generators, device: torch.device | str, dtype: torch.dtype
) -> torch.Tensor:
    if generator is None or isinstance(generator, torch.Generator):
        return fn(tuple(shape), generator=generator, device=device, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    rows = [fn(tuple(shape[1:]), generator=g, device=g.device, dtype=dtype) for g in generator]
    return torch.stack(rows).to(device)


def randn(
    shape: Sequence[int],
    generator: Generators,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``torch.randn(shape)``; with a list of generators, row b comes from generator b."""
    return _draw(torch.randn, shape, generator, device, dtype)


def rand(
    shape: Sequence[int],
    generator: Generators,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``torch.rand(shape)``; with a list of generators, row b comes from generator b."""
    return _draw(torch.rand, shape, generator, device, dtype)
