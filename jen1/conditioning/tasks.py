"""In-context tasks of JEN-1 (section 4.3) and the one mask convention of jen1.

**Mask convention: ``mask == 1`` marks a known frame, ``mask == 0`` a frame to generate.**
Masks have shape (B, 1, T) and dtype float32.

- ``Task.GENERATE`` (text-to-music): all 0; trained causal for ``dcfg.generate_causal_share`` of
  its samples and bidirectional for the rest.
- ``Task.INPAINT``: 1..``dcfg.max_spans`` gaps of 0 with known context (1) on both sides of and
  between them; always bidirectional.
- ``Task.CONTINUE``: a known prefix (1) followed by frames to generate (0); always
  unidirectional (causal).

For INPAINT and CONTINUE the share of frames to generate is drawn uniformly from
[``dcfg.mask_min``, ``dcfg.mask_max``]. Every random draw comes from the given generator (on its
own device), so the same generator state gives the same tasks and masks. Batch functions also take
one generator per sample (:mod:`jen1.rng`): then each sample's draws depend on its generator only,
not on the rest of the batch.
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor

from jen1.config import DiffusionConfig
from jen1.errors import Jen1Error
from jen1.rng import Generators


class Task(enum.Enum):
    """The three training tasks, in the order of ``DiffusionConfig.task_shares``."""

    GENERATE = "generate"
    INPAINT = "inpaint"
    CONTINUE = "continue"


def build_unet_input(x_t: Tensor, known: Tensor, mask: Tensor) -> Tensor:
    """Concatenate the U-Net input ``[x_t, known * mask, mask]`` (JEN-1 eq. 5).

    Args:
        x_t: (B, C, T) noisy latent.
        known: (B, C, T) clean latent; only frames with ``mask == 1`` are passed on.
        mask: (B, 1, T) float, 1 = known.

    Returns:
        (B, 2C+1, T) tensor.
    """
    mask = mask.to(x_t.dtype)
    return torch.cat([x_t, known.to(x_t.dtype) * mask, mask], dim=1)


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _uniform(generator: torch.Generator | None, low: float = 0.0, high: float = 1.0) -> float:
    u = torch.rand((), generator=generator, device=_device(generator)).item()
    return low + (high - low) * u


def _randperm(n: int, generator: torch.Generator | None) -> list[int]:
    return torch.randperm(n, generator=generator, device=_device(generator)).tolist()


def _composition(
    total: int, parts: int, minimum: int, generator: torch.Generator | None
) -> list[int]:
    """Split ``total`` into ``parts`` random integers, each >= ``minimum`` (uniform over splits)."""
    free = total - parts * minimum
    if free < 0:
        raise ValueError(f"cannot split {total} into {parts} parts of at least {minimum}")
    # stars and bars: choose parts-1 bar positions among free + parts - 1 slots
    slots = free + parts - 1
    bars = sorted(_randperm(slots, generator)[: parts - 1])
    edges = [-1, *bars, slots]
    return [edges[i + 1] - edges[i] - 1 + minimum for i in range(parts)]


def _num_to_generate(
    num_frames: int, dcfg: DiffusionConfig, generator: torch.Generator | None
) -> int:
    share = _uniform(generator, dcfg.mask_min, dcfg.mask_max)
    return round(share * num_frames)


def _inpaint_row(
    num_frames: int, dcfg: DiffusionConfig, generator: torch.Generator | None
) -> Tensor:
    if num_frames < 3:
        raise Jen1Error(f"inpainting needs at least 3 latent frames, got {num_frames}")
    spans = 1 + min(int(_uniform(generator) * max(dcfg.max_spans, 1)), max(dcfg.max_spans, 1) - 1)
    masked = min(max(_num_to_generate(num_frames, dcfg, generator), 1), num_frames - 2)
    spans = min(spans, masked, num_frames - masked - 1)  # each gap and each context piece >= 1
    gaps = _composition(masked, spans, 1, generator)
    context = _composition(num_frames - masked, spans + 1, 1, generator)
    row = torch.ones(num_frames)
    pos = context[0]
    for gap, ctx in zip(gaps, context[1:]):
        row[pos : pos + gap] = 0.0
        pos += gap + ctx
    return row


def _continue_row(
    num_frames: int, dcfg: DiffusionConfig, generator: torch.Generator | None
) -> Tensor:
    if num_frames < 2:
        raise Jen1Error(f"continuation needs at least 2 latent frames, got {num_frames}")
    masked = min(max(_num_to_generate(num_frames, dcfg, generator), 1), num_frames - 1)
    row = torch.ones(num_frames)
    row[num_frames - masked :] = 0.0
    return row


def make_task_mask(
    task: Task,
    batch: int,
    num_frames: int,
    dcfg: DiffusionConfig,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw known/generate masks for ``batch`` samples of one task.

    Args:
        task: which task.
        batch: number of samples B.
        num_frames: latent frames T (INPAINT needs T >= 3, CONTINUE T >= 2).
        dcfg: share bounds ``mask_min``/``mask_max`` and ``max_spans``.
        generator: source of randomness (any device); None uses the global generator.

    Returns:
        (B, 1, T) float32 mask, 1 = known, 0 = to generate (on the CPU).
    """
    if task is Task.GENERATE:
        return torch.zeros(batch, 1, num_frames)
    row_fn = _inpaint_row if task is Task.INPAINT else _continue_row
    rows = [row_fn(num_frames, dcfg, generator) for _ in range(batch)]
    if not rows:
        return torch.zeros(0, 1, num_frames)
    return torch.stack(rows)[:, None, :]


def make_masks(
    tasks: list[Task], num_frames: int, dcfg: DiffusionConfig, generator: Generators = None
) -> Tensor:
    """Draw one mask per sample for a list of tasks (in order).

    Args:
        tasks: B tasks.
        num_frames: T.
        dcfg: mask bounds.
        generator: one generator, or a sequence of B (sample b draws from generator b).

    Returns:
        (B, 1, T) float32 mask with B = len(tasks), 1 = known (on the CPU).
    """
    gens = _per_sample(generator, len(tasks))
    rows = [make_task_mask(task, 1, num_frames, dcfg, g) for task, g in zip(tasks, gens)]
    if not rows:
        return torch.zeros(0, 1, num_frames)
    return torch.cat(rows, dim=0)


def _stratified_counts(
    shares: list[float], total: int, generator: torch.Generator | None
) -> list[int]:
    """Counts summing to ``total`` with E[count_i] = share_i * total and |count_i - that| < 1.

    Systematic sampling: one uniform offset, cumulative shares rounded down.
    """
    u = _uniform(generator)
    counts, prev, cum = [], 0, 0.0
    for share in shares:
        cum += share
        edge = min(math.floor(cum * total + u), total)
        counts.append(edge - prev)
        prev = edge
    counts[-1] += total - prev
    return counts


def _per_sample(generator: Generators, batch: int) -> list[torch.Generator | None]:
    if generator is None or isinstance(generator, torch.Generator):
        return [generator] * batch
    gens = list(generator)
    if len(gens) != batch:
        raise ValueError(f"{len(gens)} generators for a batch of {batch}")
    return gens


def sample_tasks(
    batch: int, dcfg: DiffusionConfig, generator: Generators = None
) -> tuple[list[Task], Tensor]:
    """Assign a task and a causal flag to each sample of a training batch.

    With one generator, task counts follow ``dcfg.task_shares`` (generate, inpaint, continue) as
    closely as the batch size allows (stratified, unbiased), in a random order, and so does the
    causal share of GENERATE. With one generator per sample, each sample draws its task (and
    GENERATE its causal flag) independently with those probabilities. GENERATE samples are causal
    for ``dcfg.generate_causal_share`` of them, INPAINT samples never, CONTINUE samples always.

    Args:
        batch: batch size B.
        dcfg: shares.
        generator: one generator (any device), or a sequence of B.

    Returns:
        (list of B tasks, (B,) bool causal flags on the CPU).
    """
    shares = list(dcfg.task_shares)
    if any(s < 0 for s in shares) or sum(shares) <= 0:
        raise Jen1Error(f"diffusion.task_shares must be >= 0 with a positive sum, got {shares}")
    shares = [s / sum(shares) for s in shares]
    p_causal = min(max(dcfg.generate_causal_share, 0.0), 1.0)
    order = list(Task)

    if generator is not None and not isinstance(generator, torch.Generator):
        tasks, flags = [], []
        for g in _per_sample(generator, batch):
            counts = _stratified_counts(shares, 1, g)  # one draw with the task probabilities
            task = order[counts.index(1)]
            tasks.append(task)
            causal_generate = task is Task.GENERATE and _uniform(g) < p_causal
            flags.append(task is Task.CONTINUE or causal_generate)
        return tasks, torch.tensor(flags, dtype=torch.bool)

    counts = _stratified_counts(shares, batch, generator)
    tasks = [task for task, n in zip(order, counts) for _ in range(n)]
    tasks = [tasks[i] for i in _randperm(batch, generator)]
    causal = torch.tensor([task is Task.CONTINUE for task in tasks], dtype=torch.bool)
    gen_idx = [i for i, task in enumerate(tasks) if task is Task.GENERATE]
    if gen_idx:
        n_causal, _ = _stratified_counts([p_causal, 1.0 - p_causal], len(gen_idx), generator)
        pick = _randperm(len(gen_idx), generator)[:n_causal]
        causal[[gen_idx[i] for i in pick]] = True
    return tasks, causal
