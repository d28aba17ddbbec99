"""Musical controls as the tensors the U-Net reads (issue 21), and their training dropout.

Global controls are integer codes where 0 means absent (the U-Net learns an embedding for
"absent"): ``tonic`` 1..12 (C..B), ``mode`` 1 major / 2 minor, ``meter_num`` 1..32,
``meter_den`` 1..6 (an index into :data:`METER_DENOMINATORS`); ``bpm`` is a float, 0 when
absent. Time-aligned controls are ``frames`` (B, K, T) at the latent frame rate, K =
:data:`NUM_FRAME_CHANNELS`:

====  =========================================================================
0, 1  beat phase as sin, cos (phase 0 on a beat, rising linearly to the next)
2, 3  downbeat (bar) phase as sin, cos
4-15  chord chroma: 1 on the pitch classes of the sounding chord (C first)
16    1 where the beat channels are given
17    1 where the downbeat channels are given
18    1 where a chord is given (also for "no chord", whose chroma is all 0)
====  =========================================================================

Every frame's channels come from that frame's labels only, so the channels keep a causal
(continuation) U-Net causal. Beat times come from labels (the synthetic corpus knows them) or
from a tempo (``beat 0`` at a given offset, one beat every ``60 / bpm`` seconds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from jen1.conditioning.controls import (
    METER_DENOMINATORS,
    MODES,
    Controls,
    chord_pitch_classes,
)
from jen1 import rng
from jen1.eval.music import PITCH_CLASSES
from jen1.rng import Generators

NUM_FRAME_CHANNELS = 19
BEAT, DOWNBEAT, CHROMA, BEAT_GIVEN, DOWNBEAT_GIVEN, CHORD_GIVEN = (
    slice(0, 2), slice(2, 4), slice(4, 16), 16, 17, 18
)
CONTROL_NAMES = ("bpm", "key", "meter", "chords")  # dropped independently in training


@dataclass
class ControlTensors:
    """A batch's controls.

    Attributes:
        bpm: (B,) float, 0 = absent.
        tonic: (B,) long, 0 = absent, 1..12 = C..B.
        mode: (B,) long, 0 = absent, 1 = major, 2 = minor.
        meter_num: (B,) long, 0 = absent, else beats per bar.
        meter_den: (B,) long, 0 = absent, else 1 + index in :data:`METER_DENOMINATORS`.
        frames: (B, K, T) float time-aligned channels (see the module doc).
    """

    bpm: Tensor
    tonic: Tensor
    mode: Tensor
    meter_num: Tensor
    meter_den: Tensor
    frames: Tensor

    @property
    def batch_size(self) -> int:
        return self.bpm.shape[0]

    def _map(self, fn) -> ControlTensors:
        return ControlTensors(*(fn(getattr(self, n)) for n in _FIELDS))

    def select(self, index: Tensor) -> ControlTensors:
        """The samples at ``index`` ((K,) long or (B,) bool)."""
        return self._map(lambda x: x[index])

    def to(self, device: torch.device | str) -> ControlTensors:
        return self._map(lambda x: x.to(device))

    def window(self, start: int, end: int) -> ControlTensors:
        """The frames ``[start, end)`` of the time-aligned channels (global ones unchanged)."""
        out = self._map(lambda x: x)
        out.frames = self.frames[..., start:end]
        return out

    def dropped(
        self, bpm: Tensor, key: Tensor, meter: Tensor, chords: Tensor
    ) -> ControlTensors:
        """These controls with the marked samples' controls absent.

        Each argument is (B,) bool. A dropped tempo takes the beat and downbeat channels with
        it (they would tell the tempo), a dropped meter the downbeat channels.
        """
        keep = [~m.to(device=self.bpm.device, dtype=torch.bool) for m in (bpm, key, meter, chords)]
        kb, kk, km, kc = keep
        f = self.frames.clone()
        f[:, BEAT] *= kb[:, None, None]
        f[:, BEAT_GIVEN] *= kb[:, None]
        kd = kb & km
        f[:, DOWNBEAT] *= kd[:, None, None]
        f[:, DOWNBEAT_GIVEN] *= kd[:, None]
        f[:, CHROMA] *= kc[:, None, None]
        f[:, CHORD_GIVEN] *= kc[:, None]
        return ControlTensors(
            self.bpm * kb, self.tonic * kk, self.mode * kk, self.meter_num * km,
            self.meter_den * km, f,
        )  # fmt: skip

    def all_dropped(self) -> ControlTensors:
        """Every control absent (the unconditional branch of guidance)."""
        return absent_controls(self.batch_size, self.frames.shape[-1], self.bpm.device)


_FIELDS = ("bpm", "tonic", "mode", "meter_num", "meter_den", "frames")


def absent_controls(batch: int, num_frames: int, device: torch.device | str) -> ControlTensors:
    """No control for any of ``batch`` samples."""
    z = torch.zeros(batch, dtype=torch.long, device=device)
    return ControlTensors(
        torch.zeros(batch, device=device), z, z.clone(), z.clone(), z.clone(),
        torch.zeros(batch, NUM_FRAME_CHANNELS, num_frames, device=device),
    )  # fmt: skip


def concat_controls(parts: Sequence[ControlTensors]) -> ControlTensors:
    """Concatenate along the batch (same T)."""
    return ControlTensors(*(torch.cat([getattr(p, n) for p in parts], 0) for n in _FIELDS))


# --- labels -> channels ---------------------------------------------------------------------------


def beat_phase(beats: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Phase in [0, 1) at ``times`` (seconds) of the beat grid ``beats`` (sorted seconds, at
    least two): 0 on a beat, linear in between, extended outside the grid by its first and last
    intervals."""
    beats = np.asarray(beats, dtype=np.float64)
    idx = np.clip(np.searchsorted(beats, times, side="right") - 1, 0, len(beats) - 2)
    left, right = beats[idx], beats[idx + 1]
    pos = idx + (times - left) / (right - left)  # beats since the first, fractional
    return np.mod(pos, 1.0)


@dataclass(frozen=True)
class Chord:
    """A chord symbol sounding from ``start`` to ``end`` seconds."""

    start: float
    end: float
    symbol: str


def frame_channels(
    num_frames: int,
    frame_rate: float,
    *,
    beats: np.ndarray | None = None,
    downbeats: np.ndarray | None = None,
    chords: Sequence[Chord] = (),
) -> np.ndarray:
    """(K, T) float32 time-aligned channels for one sample; frame f sits at ``f / frame_rate``
    seconds. ``beats``/``downbeats``: sorted times in seconds (fewer than two: not given);
    ``chords``: spans (frames outside every span have no chord given)."""
    out = np.zeros((NUM_FRAME_CHANNELS, num_frames), dtype=np.float32)
    times = np.arange(num_frames) / frame_rate
    for grid, ch, flag in ((beats, BEAT, BEAT_GIVEN), (downbeats, DOWNBEAT, DOWNBEAT_GIVEN)):
        if grid is not None and len(grid) >= 2:
            ph = 2 * math.pi * beat_phase(grid, times)
            out[ch] = np.stack([np.sin(ph), np.cos(ph)])
            out[flag] = 1.0
    for c in chords:
        a = max(0, math.ceil(c.start * frame_rate - 1e-9))
        e = min(num_frames, math.ceil(c.end * frame_rate - 1e-9))
        if e <= a:
            continue
        out[CHROMA, a:e] = 0.0
        for pc in chord_pitch_classes(c.symbol):
            out[CHROMA.start + pc, a:e] = 1.0
        out[CHORD_GIVEN, a:e] = 1.0
    return out


def grid_from_tempo(
    bpm: float, seconds: float, offset: float = 0.0, every: int = 1
) -> np.ndarray:
    """Beat times of a steady tempo from ``offset`` (every ``every``-th beat: downbeats of a
    bar of that many beats), covering ``[0, seconds]`` with one beat beyond each end."""
    period = 60.0 / bpm * every
    first = offset - period * math.ceil(offset / period + 1e-9)
    n = math.ceil((seconds - first) / period) + 2
    return first + period * np.arange(n)


def chords_from_bars(
    bars: tuple[tuple[str, ...], ...], bpm: float, beats_per_bar: int, seconds: float,
    offset: float = 0.0,
) -> list[Chord]:
    """Chord spans of a per-bar progression from ``offset`` seconds, looped to ``seconds``;
    the chords of a bar share it equally."""  # fmt: skip
    bar = 60.0 / bpm * beats_per_bar
    out, i = [], 0
    while offset + i * bar < seconds:
        chords = bars[i % len(bars)]
        step = bar / len(chords)
        t0 = offset + i * bar
        out += [Chord(t0 + k * step, t0 + (k + 1) * step, c) for k, c in enumerate(chords)]
        i += 1
    return out


def controls_to_tensors(
    told: Sequence[Controls],
    num_frames: int,
    frame_rate: float,
    *,
    beat_grid: bool,
    offset_seconds: float = 0.0,
    device: torch.device | str = "cpu",
) -> ControlTensors:
    """A request's controls (one per batch item) over ``num_frames`` latent frames.

    Args:
        beat_grid: draw beat and downbeat channels from the tempo with a beat at
            ``offset_seconds`` (text-to-music, where the model places the beats). Off where the
            beat's phase is the known audio's (continuation, inpainting, remix): the tempo then
            travels in the global embedding only.
        offset_seconds: where the controlled part starts (the first chord; the first beat).
    """
    seconds = num_frames / frame_rate
    rows, frames = [], []
    for c in told:
        num, den = c.meter or (0, 0)
        rows.append((
            c.bpm or 0.0,
            0 if c.key is None else 1 + PITCH_CLASSES.index(c.key),
            0 if c.mode is None else 1 + MODES.index(c.mode),
            num,
            0 if c.meter is None else 1 + METER_DENOMINATORS.index(den),
        ))  # fmt: skip
        beats = downbeats = None
        if beat_grid and c.bpm is not None:
            beats = grid_from_tempo(c.bpm, seconds, offset_seconds)
            if c.meter is not None:
                downbeats = grid_from_tempo(c.bpm, seconds, offset_seconds, every=num)
        spans: list[Chord] = []
        if c.chords is not None and c.bpm is not None and c.meter is not None:
            spans = chords_from_bars(c.chords, c.bpm, num, seconds, offset_seconds)
        frames.append(frame_channels(num_frames, frame_rate, beats=beats, downbeats=downbeats,
                                     chords=spans))  # fmt: skip
    cols = list(zip(*rows))
    long = dict(dtype=torch.long, device=device)
    return ControlTensors(
        torch.tensor(cols[0], dtype=torch.float32, device=device),
        torch.tensor(cols[1], **long), torch.tensor(cols[2], **long),
        torch.tensor(cols[3], **long), torch.tensor(cols[4], **long),
        torch.from_numpy(np.stack(frames)).to(device),
    )  # fmt: skip


def drop_controls(
    controls: ControlTensors, p: float, drop_text: Tensor, generator: Generators = None
) -> ControlTensors:
    """Training dropout: each of bpm, key, meter and chords absent with probability ``p``,
    independently per sample and control, and all of them where ``drop_text`` (B,) bool (the
    guidance's unconditional branch drops text and controls together).

    Draws (B, 4) uniforms: from one generator on its own device, or row b from generator b.
    """
    b, device = controls.batch_size, controls.bpm.device
    shape = (b, len(CONTROL_NAMES))
    if generator is None or isinstance(generator, torch.Generator):
        gen_device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(shape, generator=generator, device=gen_device).to(device)
    else:
        u = rng.rand(shape, generator, device=device)
    drop = (u < p) | drop_text.to(device, torch.bool)[:, None]
    return controls.dropped(*drop.unbind(1))
