"""Arrangements -> MIDI (pretty_midi) -> 48 kHz stereo audio (tinysoundfont), reverb and gain.

An :class:`Arrangement` holds parts of notes timed in beats at a constant tempo. A window of it is
written as a standard MIDI file (programs, CC7 volume, CC10 pan, CC11 expression, CC91 reverb
send), rendered with a SoundFont by tinysoundfont, given a simple convolution reverb (tinysoundfont
ignores CC91) and normalised in loudness with a peak ceiling, so no render clips.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jen1.audio import SAMPLE_RATE
from jen1.errors import Jen1Error

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# Real multi-sampled acoustic kits (Debian's avldrums.lv2-soundfont, CC-BY-SA-3.0): one preset
# each at bank 0 / program 0 with the GM drum-note map.
AVL_DRUM_KITS = (
    Path("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2"),
    Path("/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"),
)
PEAK_DBFS = -1.0  # no render peaks above this
PREROLL_SECONDS = 1.5  # rendered before a window and dropped: ringing notes and reverb tails


@dataclass
class Note:
    """One note; ``start`` and ``dur`` in beats."""

    pitch: int
    start: float
    dur: float
    velocity: int


@dataclass
class Part:
    """One instrument on its own MIDI channel (``is_drum``: GM channel 10, ``program`` = kit)."""

    name: str
    program: int
    notes: list[Note] = field(default_factory=list)
    is_drum: bool = False
    pan: int = 64
    volume: int = 100
    role: str = ""
    expression: list[tuple[float, int]] = field(default_factory=list)  # (beat, CC11 value)


@dataclass
class Arrangement:
    """Parts at a constant tempo (``bpm`` beats per minute), ``length_beats`` long."""

    parts: list[Part]
    bpm: float
    length_beats: float
    reverb_wet: float = 0.0  # 0..1 share of reverberated signal
    reverb_seconds: float = 1.5  # RT60 of the reverb

    @property
    def seconds(self) -> float:
        return self.length_beats * 60.0 / self.bpm


def _clamp7(v: float) -> int:
    return int(min(127, max(0, round(v))))


def window_to_midi(arr: Arrangement, start: float, seconds: float) -> tuple[bytes, list[str]]:
    """Write the window [start - preroll, start + seconds] (in seconds) of ``arr`` as MIDI bytes.

    Notes still sounding at the window start begin at the window start (their attack falls in
    the pre-roll, which the caller drops). Returns the MIDI file and the names of the parts
    that sound inside [start, start + seconds] (not only in the pre-roll), in part order.
    """
    import pretty_midi

    sec_per_beat = 60.0 / arr.bpm
    t0 = max(0.0, start - PREROLL_SECONDS)
    t_in, t1 = start, start + seconds
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    audible: list[str] = []
    for part in arr.parts:
        inst = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=part.name)
        sounding = False
        for n in part.notes:
            s = n.start * sec_per_beat
            e = (n.start + n.dur) * sec_per_beat
            if e <= t0 or s >= t1:
                continue
            s2, e2 = max(s, t0) - t0, min(e, t1) - t0
            if e2 - s2 < 0.005:
                continue
            inst.notes.append(pretty_midi.Note(_clamp7(n.velocity) or 1, int(n.pitch), s2, e2))
            sounding = sounding or (e > t_in + 0.05 and s < t1 - 0.05)
        if not inst.notes:
            continue
        cc = inst.control_changes
        cc += [
            pretty_midi.ControlChange(7, _clamp7(part.volume), 0.0),
            pretty_midi.ControlChange(10, _clamp7(part.pan), 0.0),
            pretty_midi.ControlChange(91, _clamp7(arr.reverb_wet * 127), 0.0),
        ]
        for beat, value in part.expression:
            t = beat * sec_per_beat
            if t0 <= t < t1:
                cc.append(pretty_midi.ControlChange(11, _clamp7(value), t - t0))
            elif t < t0:  # latest value before the window applies from its start
                cc.append(pretty_midi.ControlChange(11, _clamp7(value), 0.0))
        pm.instruments.append(inst)
        if sounding and part.name not in audible:
            audible.append(part.name)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue(), audible


class SoundFontRenderer:
    """Render MIDI bytes to (2, L) float32 at 48 kHz with one loaded SoundFont.

    Loading FluidR3_GM takes ~0.7 s, so one renderer is reused; every render starts from a
    silent, reset synth, so the output depends only on the MIDI (not on earlier renders).
    ``drum_kits``: extra SoundFonts holding one drum kit each (bank 0, program 0); a render
    can play channel 10 from one of them instead of the GM font's kit.
    """

    def __init__(
        self, soundfont: Path, sample_rate: int = SAMPLE_RATE, drum_kits: tuple[Path, ...] = ()
    ) -> None:
        from jen1.optional import require

        tinysoundfont = require("tinysoundfont", "rendering MIDI (jen1 data synth)")

        self.sample_rate = sample_rate
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        self._load(Path(soundfont))  # first loaded: every channel starts on it
        self.kit_ids = [self._load(Path(k)) for k in drum_kits]

    def _load(self, path: Path) -> int:
        if not path.is_file():
            raise Jen1Error(f"soundfont not found: {path}")
        try:
            return self.synth.sfload(str(path))
        except Exception as e:  # noqa: BLE001 - tinysoundfont raises several types
            raise Jen1Error(f"cannot load soundfont {path}: {e}") from None

    def _reset(self) -> None:
        # SoundFont.reset() releases voices quickly but not at once: run them out before a render
        for sf in self.synth.soundfonts.values():
            sf.reset()
        self.synth.callback = None
        for _ in range(100):
            if not np.any(np.frombuffer(self.synth.generate_simple(2400), dtype=np.float32)):
                break

    def render(self, midi: bytes, num_samples: int, kit: int | None = None) -> np.ndarray:
        """(2, num_samples) float32 render of a standard MIDI file; ``kit`` indexes
        ``drum_kits`` (None: the GM font's own kit)."""
        import tinysoundfont
        from tinysoundfont.midi import load_memory

        self._reset()
        seq = tinysoundfont.Sequencer(self.synth)
        seq.add(load_memory(midi, persistent=False))  # persistent events cost O(n^2) here
        if self.kit_ids:
            # channel 10 plays from the font it is assigned to, also through the MIDI's
            # program changes; set at every render, since the synth is reused
            if kit is None:
                self.synth.program_select(9, 0, 128, 0, True)
            else:
                self.synth.program_select(9, self.kit_ids[kit], 0, 0, True)
        buf = self.synth.generate(num_samples)
        self.synth.callback = None
        inter = np.frombuffer(buf, dtype=np.float32)[: 2 * num_samples]
        return np.ascontiguousarray(inter.reshape(-1, 2).T)  # (L*2,) -> (2, L)


@functools.lru_cache(maxsize=2)
def get_renderer(soundfont: str, drum_kits: tuple[str, ...] = ()) -> SoundFontRenderer:
    """One renderer per soundfont per process (worker processes each load their own)."""
    return SoundFontRenderer(Path(soundfont), drum_kits=tuple(map(Path, drum_kits)))


_REVERB_DECIMATION = 4  # the tail is computed at 12 kHz: 4x cheaper, and darker like a real hall


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (an FFT size numpy transforms quickly)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def reverb_ir(rt60: float, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Stereo room impulse response (2, K): decorrelated low-passed noise, exponentially decaying.

    Unit energy per channel; a 5-30 ms pre-delay; length min(rt60, 2.5 s).
    """
    n = int(min(rt60, 2.5) * sample_rate)
    spec = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spec /= np.sqrt(1 + (freqs / rng.uniform(1500, 4500)) ** 2)  # darker tail
    t = np.arange(n) / sample_rate
    ir = np.fft.irfft(spec, n, axis=-1) * np.exp(-6.91 * t / rt60)  # -60 dB at rt60
    ir = np.pad(ir, ((0, 0), (int(rng.uniform(0.005, 0.03) * sample_rate), 0)))  # pre-delay
    ir /= np.sqrt(np.sum(ir**2, axis=-1, keepdims=True)) + 1e-12
    return ir.astype(np.float32)


def add_reverb(wav: np.ndarray, wet: float, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Mix (2, L) ``wav`` at 48 kHz with its convolution by :func:`reverb_ir`; returns (2, L).

    The reverberated signal is computed at 12 kHz (mean of 4 samples, FFT convolution, linear
    interpolation back), which keeps the cost near 10 ms per 10 s clip.
    """
    if wet <= 0:
        return wav
    d = _REVERB_DECIMATION
    num = wav.shape[-1]
    low = np.pad(wav, ((0, 0), (0, (-num) % d))).reshape(2, -1, d).mean(-1)  # (2, L/d)
    ir = reverb_ir(rt60, rng, SAMPLE_RATE // d)
    nfft = _fast_len(low.shape[-1] + ir.shape[-1] - 1)
    spec = np.fft.rfft(low, nfft, axis=-1) * np.fft.rfft(ir, nfft, axis=-1)
    tail_low = np.fft.irfft(spec, nfft, axis=-1)[:, : low.shape[-1]].astype(np.float32)
    nxt = np.concatenate([tail_low[:, 1:], tail_low[:, -1:]], axis=-1)
    frac = (np.arange(d, dtype=np.float32) / d)[None, None, :]
    tail = tail_low[..., None] * (1 - frac) + nxt[..., None] * frac  # (2, L/d, d) linear interp
    tail = tail.reshape(2, -1)[:, :num]
    dry_rms = float(np.sqrt(np.mean(wav**2))) + 1e-9
    tail_rms = float(np.sqrt(np.mean(tail**2))) + 1e-9
    return ((1 - wet) * wav + wet * tail * (dry_rms / tail_rms)).astype(np.float32)


def vary_mix(wav: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """A random master-bus treatment of (2, L) audio: stereo width and spectral tilt.

    Width scales the side signal by 0.5-1.5; tilt mixes in a one-pole low-pass at 3 kHz
    (darker, up to -40%) or its complement (brighter, up to +40%). Returns the audio and the
    values drawn, for the clip's attributes.
    """
    from scipy.signal import lfilter

    width = float(rng.uniform(0.5, 1.5))
    tilt = float(rng.uniform(-0.4, 0.4))
    mid, side = (wav[0] + wav[1]) / 2, (wav[0] - wav[1]) / 2 * width
    x = np.stack([mid + side, mid - side])
    a = np.exp(-2 * np.pi * 3000.0 / SAMPLE_RATE)
    low = lfilter([1 - a], [1, -a], x, axis=-1)
    x = x + tilt * (x - low) if tilt > 0 else x + (-tilt) * (low - x)
    return x.astype(np.float32), {"width": round(width, 3), "tilt": round(tilt, 3)}


def normalise_loudness(
    wav: np.ndarray, target_rms_db: float, peak_db: float = PEAK_DBFS
) -> np.ndarray:
    """Scale (2, L) audio to ``target_rms_db`` dBFS RMS, less if the peak would pass ``peak_db``."""
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if rms < 1e-7 or peak < 1e-7:
        return wav
    gain = 10 ** (target_rms_db / 20) / rms
    gain = min(gain, 10 ** (peak_db / 20) / peak)
    return (wav * gain).astype(np.float32)


def render_window(
    arr: Arrangement,
    start: float,
    seconds: float,
    renderer: SoundFontRenderer,
    rng: np.random.Generator,
    target_rms_db: float,
    kit: int | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Render ``seconds`` of ``arr`` from ``start`` (s): (2, L) float32, L = round(seconds * 48k).

    ``kit`` selects one of the renderer's drum kits (None: the GM font's). Returns the audio
    and the names of the parts audible in the window.
    """
    sr = renderer.sample_rate
    t0 = max(0.0, start - PREROLL_SECONDS)
    pre = round((start - t0) * sr)
    num = round(seconds * sr)
    midi, audible = window_to_midi(arr, start, seconds)
    wav = renderer.render(midi, pre + num, kit=kit)
    wav = add_reverb(wav, arr.reverb_wet, arr.reverb_seconds, rng)
    wav = wav[:, pre : pre + num]
    return normalise_loudness(wav, target_rms_db), audible
