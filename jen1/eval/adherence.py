"""Prompt adherence: what the captions let us measure.

(a) Tag agreement: words of a prompt mapped to the 50 MagnaTagATune tags of musicnn; the score
    is the tagger's mean probability for the mapped tags against its mean over the other tags.
(b) Attributes estimated from the signal and compared with the prompt's: tempo (onset-strength
    autocorrelation), key and mode (chroma + Krumhansl-Schmuckler profiles), style (logistic
    regression on musicnn features), loudness (ITU-R BS.1770-4 integrated LUFS).

All estimators take numpy audio ``(2, L)`` or ``(L,)`` at ``sr`` (default 48 kHz).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from jen1.errors import Jen1Error

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {
    "Db": "C#",
    "Eb": "D#",
    "Gb": "F#",
    "Ab": "G#",
    "Bb": "A#",
    "Cb": "B",
    "Fb": "E",
    "E#": "F",
    "B#": "C",
}

# --- (a) tag agreement ----------------------------------------------------------------------------

# MTT tag -> words/phrases in a prompt that ask for it (only tags that exist in MTT; matched as
# whole words, case-insensitive, after "beats per minute" is removed from the prompt).
PROMPT_TAGS: dict[str, tuple[str, ...]] = {
    "guitar": ("guitar", "guitars", "banjo"),
    "classical": (
        "classical",
        "chamber music",
        "chamber",
        "baroque",
        "chorale",
        "orchestral",
        "symphonic",
        "renaissance",
        "polyphony",
        "polyphonic",
    ),
    "slow": ("slow", "slowly", "unhurried", "leisurely", "languid", "downtempo"),
    "fast": ("fast", "quick", "racing", "high-energy", "up-tempo", "uptempo"),
    "techno": ("techno", "electronic dance", "edm", "house", "trance"),
    "electronic": ("electronic", "electronica", "edm", "synthwave", "synth-pop"),
    "strings": ("strings", "string section", "string ensemble", "string quartet"),
    "drums": ("drums", "drum", "drumming", "drum kit", "drum machine", "percussion", "808"),
    "rock": ("rock", "rock and roll", "pop-rock"),
    "piano": ("piano", "pianos", "electric piano", "piano ballad"),
    "ambient": ("ambient", "atmospheric"),
    "beats": ("hip-hop", "hip hop", "boom-bap"),
    "violin": ("violin", "violins", "fiddle"),
    "synth": ("synth", "synths", "synthesizer", "synthwave", "polysynth", "synth bass"),
    "flute": ("flute", "flutes", "pan flute"),
    "harpsichord": ("harpsichord",),
    "loud": ("loud",),
    "quiet": ("quiet",),
    "soft": ("soft", "gentle"),
    "pop": ("pop", "synth-pop", "pop-rock"),
    "sitar": ("sitar",),
    "choir": ("choir", "choral"),
    "voice": ("voice", "voices", "vocal oohs"),
    "harp": ("harp",),
    "cello": ("cello", "cellos"),
    "country": ("country",),
    "metal": ("metal", "heavy metal"),
    "dance": ("dance", "danceable", "disco"),
    "new age": ("new age",),
    "opera": ("opera", "operatic"),
    "no vocals": ("instrumental",),
}
_BPM_PHRASE = re.compile(r"beats?\s+(per|a)\s+minute", re.I)


def prompt_tags(prompt: str) -> list[str]:
    """MTT tags asked for by the words of ``prompt`` (see :data:`PROMPT_TAGS`)."""
    text = _BPM_PHRASE.sub(" ", prompt.lower())
    found = []
    for tag, words in PROMPT_TAGS.items():
        if any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text) for w in words):
            found.append(tag)
    return found


def tag_agreement(
    probs: np.ndarray, prompts: Sequence[str], tag_names: Sequence[str]
) -> dict[str, Any]:
    """How much more likely the tagger finds the tags a prompt asks for than the other tags.

    Args:
        probs: (N, 50) clip-level tag probabilities (musicnn ``tags``).
        prompts: N prompts.
        tag_names: the 50 tag names in column order.

    Returns:
        ``mapped`` (mean probability of the mapped tags), ``unmapped`` (mean over the others),
        ``difference``, ``hit_at_5`` (fraction of mapped tags among the clip's 5 top tags),
        ``clips`` (clips with at least one mapped tag) and ``per_clip`` rows.
    """
    index = {t: i for i, t in enumerate(tag_names)}
    rows = []
    for p, prompt in zip(np.asarray(probs), prompts):
        tags = [t for t in prompt_tags(prompt) if t in index]
        if not tags:
            continue
        cols = np.array([index[t] for t in tags])
        rest = np.setdiff1d(np.arange(len(tag_names)), cols)
        top5 = set(np.argsort(-p)[:5].tolist())
        rows.append(
            {
                "tags": tags,
                "mapped": float(p[cols].mean()),
                "unmapped": float(p[rest].mean()),
                "hit_at_5": float(np.mean([c in top5 for c in cols])),
            }
        )
    if not rows:
        return {"clips": 0}
    mapped = float(np.mean([r["mapped"] for r in rows]))
    unmapped = float(np.mean([r["unmapped"] for r in rows]))
    return {
        "clips": len(rows),
        "mapped": mapped,
        "unmapped": unmapped,
        "difference": mapped - unmapped,
        "hit_at_5": float(np.mean([r["hit_at_5"] for r in rows])),
        "per_clip": rows,
    }


# --- attributes from the words of a prompt --------------------------------------------------------

_BPM_RE = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats?\s+(?:per|a)\s+minute)", re.I)
_KEY_RE = re.compile(
    r"\b([A-G])\s?(#|♯|b|♭|-sharp|-flat| sharp| flat)?[\s-]?(major|minor|maj|min)\b"
)
_KEY_OF_RE = re.compile(r"\bkey of ([A-G])(#|♯|b|♭)?(?![\w#♯♭])")


def normalize_key(name: str) -> str:
    """'Bb' / 'B♭' / 'B flat' -> 'A#' (sharps only); raises on an unknown pitch class."""
    n = name.strip().replace("♯", "#").replace("♭", "b").replace("-", " ")
    n = re.sub(r"\s*sharp$", "#", n)
    n = re.sub(r"\s*flat$", "b", n)
    n = n[:1].upper() + n[1:]
    n = _FLATS.get(n, n)
    if n not in PITCH_CLASSES:
        raise Jen1Error(f"unknown key {name!r}")
    return n


def parse_attributes(prompt: str, styles: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Attributes stated in the words of a prompt: ``bpm``, ``key``, ``mode``, ``style``.

    Args:
        prompt: free text, e.g. "a slow piano ballad in D minor at 70 BPM".
        styles: style name -> phrases naming it (default: the corpus styles of
            ``jen1.data.captions.STYLE_WORDS``); the longest phrase found wins.
    """
    out: dict[str, Any] = {}
    m = _BPM_RE.search(prompt)
    if m:
        out["bpm"] = float(m.group(1))
    m = _KEY_RE.search(prompt)
    if m:
        out["key"] = normalize_key(m.group(1) + (m.group(2) or ""))
        out["mode"] = "major" if m.group(3).lower().startswith("maj") else "minor"
    else:
        m = _KEY_OF_RE.search(prompt)
        if m:
            out["key"] = normalize_key(m.group(1) + (m.group(2) or ""))
    if styles is None:
        from jen1.data.captions import STYLE_WORDS

        styles = {k: (k, *v) for k, v in STYLE_WORDS.items()}
    text = prompt.lower()
    best = None
    for style, phrases in styles.items():
        for ph in phrases:
            if re.search(rf"(?<![\w-]){re.escape(ph.lower())}(?![\w-])", text):
                if best is None or len(ph) > best[1]:
                    best = (style, len(ph))
    if best:
        out["style"] = best[0]
    return out


# --- signal helpers -------------------------------------------------------------------------------


def _mono(wav: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """(2, L) or (L,) at ``sr`` -> float64 mono (L',) at ``target_sr`` (soxr)."""
    x = np.asarray(wav, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1 or x.size == 0:
        raise Jen1Error(f"expected audio of shape (2, L) or (L,), got {np.shape(wav)}")
    if sr != target_sr:
        import soxr

        x = soxr.resample(x, sr, target_sr)
    return x


def _stft_mag(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (frames, n_fft // 2 + 1) with a periodic Hann window, centred (reflect padding)."""
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    x = np.pad(x, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    win = np.hanning(n_fft + 1)[:-1]
    return np.abs(np.fft.rfft(frames * win, axis=-1))


# --- tempo ----------------------------------------------------------------------------------------

TEMPO_SR = 16000
TEMPO_HOP = 128  # 125 frames per second


def onset_envelope(wav: np.ndarray, sr: int = 48000) -> tuple[np.ndarray, float]:
    """Spectral-flux onset strength: half-wave rectified rise of a 64-band log-mel spectrum.

    Returns:
        (envelope (frames,), frame rate in Hz).
    """
    from jen1.eval.musicnn import mel_filterbank

    x = _mono(wav, sr, TEMPO_SR)
    mag = _stft_mag(x, 1024, TEMPO_HOP)
    mel = mag**2 @ mel_filterbank(TEMPO_SR, 1024, 64).T  # (frames, 64)
    logmel = 10 * np.log10(np.maximum(mel, 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 80.0)
    flux = np.maximum(0.0, np.diff(logmel, axis=0)).mean(axis=1)
    return np.concatenate([[0.0], flux]), TEMPO_SR / TEMPO_HOP


def tempo_candidates(
    env: np.ndarray,
    frame_rate: float,
    *,
    bpm_min: float = 30.0,
    bpm_max: float = 300.0,
    prior_bpm: float = 120.0,
    prior_octaves: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Tempo salience on a BPM grid: the onset envelope's autocorrelation summed at the beat
    period and its multiples (a comb over 4 periods), weighted by a log-normal prior
    (centre ``prior_bpm``, std ``prior_octaves``, as librosa's beat tracker).

    Returns:
        (bpm grid (K,), salience (K,)).
    """
    e = env - np.convolve(env, np.ones(63) / 63, mode="same")  # remove slow trends (~0.5 s)
    n = e.size
    spec = np.fft.rfft(e, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    if acf[0] <= 0:
        return np.array([prior_bpm]), np.array([0.0])
    acf = acf / acf[0]
    acf = acf * n / (n - np.arange(n))  # unbiased: long lags see fewer frames
    bpm = np.arange(bpm_min, bpm_max + 1e-9, 0.25)
    lag = 60.0 * frame_rate / bpm
    sal = np.zeros_like(bpm)
    for k in range(1, 5):
        lk = k * lag
        ok = lk < n * 0.75
        sal[ok] += np.interp(lk[ok], np.arange(n), acf) / k**0.5
    sal = np.maximum(sal, 0.0)
    prior = np.exp(-0.5 * (np.log2(bpm / prior_bpm) / prior_octaves) ** 2)
    return bpm, sal * prior


def estimate_tempo(wav: np.ndarray, sr: int = 48000) -> float:
    """Tempo in BPM from the onset envelope's autocorrelation (see :func:`tempo_candidates`)."""
    env, fr = onset_envelope(wav, sr)
    bpm, sal = tempo_candidates(env, fr)
    i = int(np.argmax(sal))
    if 0 < i < len(sal) - 1:  # parabolic refinement on the grid
        a, b, c = sal[i - 1], sal[i], sal[i + 1]
        d = a - 2 * b + c
        off = 0.5 * (a - c) / d if d < 0 else 0.0
        return float(bpm[i] + off * (bpm[1] - bpm[0]))
    return float(bpm[i])


def tempo_outcome(est: float, true: float, tol: float = 0.04) -> str:
    """'correct' within ``tol`` (4%), 'octave' at 1/2, 2, 1/3 or 3 times, else 'wrong'."""
    if abs(est - true) <= tol * true:
        return "correct"
    for f in (0.5, 2.0, 1 / 3, 3.0):
        if abs(est - f * true) <= tol * f * true:
            return "octave"
    return "wrong"


# --- key and mode ---------------------------------------------------------------------------------

# Key profiles, tonic first: Krumhansl & Kessler (1982) probe-tone ratings, and Albrecht &
# Shanahan (2013) pitch-class distributions of a corpus. The KS algorithm correlates a chroma
# vector with each profile rotated to the 12 tonics. On the corpus val split (43 clips, chosen
# before looking at test) "albrecht" gave 63% exact / 86% mode accuracy and "krumhansl" 53% / 79%.
KEY_PROFILES: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "krumhansl": (
        np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
        np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    ),
    "albrecht": (
        np.array(
            [0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081]
        ),
        np.array(
            [0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052]
        ),
    ),
}
KEY_SR = 16000


def chroma(
    wav: np.ndarray, sr: int = 48000, *, fmin: float = 60.0, fmax: float = 1000.0
) -> np.ndarray:
    """Time-averaged 12-bin chroma (C first) from a 0.5 s STFT at 16 kHz: each bin's
    log-compressed magnitude goes to its nearest pitch class, weighted by closeness to the
    semitone centre. ``fmax`` 1 kHz keeps upper partials (which inflate the dominant) small.

    Returns:
        (12,) summing to 1.
    """
    x = _mono(wav, sr, KEY_SR)
    n_fft = 8192
    mag = _stft_mag(x, n_fft, 2048)  # (frames, bins)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / KEY_SR)
    sel = (freqs >= fmin) & (freqs <= fmax)
    midi = 69 + 12 * np.log2(freqs[sel] / 440.0)
    near = np.round(midi)
    w = np.exp(-0.5 * ((midi - near) / 0.25) ** 2)  # (bins,)
    frames = np.log1p(100.0 * mag[:, sel] / max(mag.max(), 1e-9))
    per_bin = (frames * w).sum(axis=0)
    out = np.zeros(12)
    np.add.at(out, near.astype(int) % 12, per_bin)
    return out / max(out.sum(), 1e-12)


def estimate_key(
    wav: np.ndarray, sr: int = 48000, profiles: str = "albrecht"
) -> tuple[str, str, float]:
    """Krumhansl-Schmuckler key finding: correlate the chroma with the 24 rotated profiles.

    Args:
        profiles: a name in :data:`KEY_PROFILES`.

    Returns:
        (tonic pitch class, 'major' | 'minor', correlation of the best key).
    """
    if profiles not in KEY_PROFILES:
        raise Jen1Error(
            f"unknown key profiles {profiles!r} (choose from {', '.join(KEY_PROFILES)})"
        )
    c = chroma(wav, sr)
    best = ("C", "major", -2.0)
    for mode, prof in zip(("major", "minor"), KEY_PROFILES[profiles]):
        for t in range(12):
            r = float(np.corrcoef(c, np.roll(prof, t))[0, 1])
            if r > best[2]:
                best = (PITCH_CLASSES[t], mode, r)
    return best


def key_relation(est: tuple[str, str], true: tuple[str, str]) -> str:
    """How an estimated key relates to the true one (MIREX categories): 'exact', 'fifth'
    (tonic a fifth above or below, same mode), 'relative', 'parallel', or 'other'."""
    (ek, em), (tk, tm) = est, true
    e, t = PITCH_CLASSES.index(normalize_key(ek)), PITCH_CLASSES.index(normalize_key(tk))
    if em == tm and e == t:
        return "exact"
    if em == tm and (e - t) % 12 in (5, 7):
        return "fifth"
    if em != tm and (
        (tm == "major" and (e - t) % 12 == 9) or (tm == "minor" and (e - t) % 12 == 3)
    ):
        return "relative"
    if em != tm and e == t:
        return "parallel"
    return "other"


MIREX_KEY_WEIGHTS = {"exact": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0}


# --- loudness -------------------------------------------------------------------------------------


def _k_weighting(sr: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770-4 K-weighting: high shelf (+4 dB at high frequencies) then high pass (RLB),
    designed by the bilinear transform for any rate (the standard's 48 kHz coefficients)."""
    out = []
    # high shelf
    f0, g, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10 ** (g / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    b = np.array([vh + vb * k / q + k * k, 2 * (k * k - vh), vh - vb * k / q + k * k]) / a0
    a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    out.append((b, a))
    # high pass
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr)
    a = np.array(
        [1.0, 2 * (k * k - 1) / (1 + k / q + k * k), (1 - k / q + k * k) / (1 + k / q + k * k)]
    )
    out.append((np.array([1.0, -2.0, 1.0]), a))
    return out


def loudness_lufs(wav: np.ndarray, sr: int = 48000) -> float:
    """Integrated loudness (ITU-R BS.1770-4): K-weighting, 400 ms blocks with 75% overlap,
    absolute gate at -70 LUFS, relative gate 10 LU below. Returns -inf for silence; audio
    shorter than one block is measured as a single block.

    Args:
        wav: (2, L) or (L,) audio; channels weigh 1 (left, right, or mono).
    """
    from scipy.signal import lfilter

    x = np.atleast_2d(np.asarray(wav, dtype=np.float64))
    for b, a in _k_weighting(sr):
        x = lfilter(b, a, x, axis=-1)
    block, step = round(0.4 * sr), round(0.1 * sr)
    n = x.shape[-1]
    if n < block:
        z = (x**2).mean(axis=-1, keepdims=True)  # (C, 1)
    else:
        starts = np.arange(0, n - block + 1, step)
        csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x**2, axis=-1)], axis=-1)
        z = (csum[:, starts + block] - csum[:, starts]) / block  # (C, blocks)
    power = z.sum(axis=0)
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(power)
    keep = lk > -70.0
    if not keep.any():
        return float("-inf")
    rel = -0.691 + 10 * np.log10(power[keep].mean()) - 10.0
    keep &= lk > rel
    return float(-0.691 + 10 * np.log10(power[keep].mean()))


# --- style ----------------------------------------------------------------------------------------


class StyleClassifier:
    """Multinomial logistic regression on standardised musicnn features (L2-regularised, fitted
    with L-BFGS). Trained on per-patch features; a clip's style is the argmax of its patches'
    mean probability.

    Args:
        classes: style names; ``mean``/``std`` (D,) feature standardisation; ``weight`` (D, K)
            and ``bias`` (K,).
    """

    def __init__(
        self,
        classes: Sequence[str],
        mean: np.ndarray,
        std: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray,
    ):
        self.classes = list(classes)
        self.mean, self.std = np.asarray(mean), np.asarray(std)
        self.weight, self.bias = np.asarray(weight), np.asarray(bias)

    @classmethod
    def fit(
        cls,
        feats: Sequence[np.ndarray],
        labels: Sequence[str],
        *,
        l2: float = 1e-2,
        max_iter: int = 500,
    ) -> StyleClassifier:
        """Fit on clips: ``feats`` holds one (P, D) patch-feature array per clip."""
        from scipy.optimize import minimize

        if len(feats) != len(labels) or not feats:
            raise Jen1Error(f"style classifier: {len(feats)} feature sets for {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise Jen1Error("style classifier: need at least two styles to train on")
        x = np.concatenate([np.atleast_2d(f) for f in feats]).astype(np.float64)
        y = np.concatenate(
            [[classes.index(lab)] * np.atleast_2d(f).shape[0] for f, lab in zip(feats, labels)]
        )
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
        xs = (x - mean) / std
        n, d = xs.shape
        k = len(classes)
        onehot = np.eye(k)[y]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[: d * k].reshape(d, k), theta[d * k :]
            z = xs @ w + b
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            p = np.exp(logp)
            f = -(onehot * logp).sum() / n + 0.5 * l2 * (w**2).sum()
            g = (p - onehot) / n
            return f, np.concatenate([(xs.T @ g + l2 * w).ravel(), g.sum(axis=0)])

        res = minimize(
            loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
        )
        return cls(classes, mean, std, res.x[: d * k].reshape(d, k), res.x[d * k :])

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        """(P, D) patch features of one clip -> (K,) style probabilities."""
        z = ((np.atleast_2d(feats) - self.mean) / self.std) @ self.weight + self.bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).mean(axis=0)

    def predict(self, feats: np.ndarray) -> str:
        return self.classes[int(np.argmax(self.predict_proba(feats)))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StyleClassifier:
        return cls(
            d["classes"],
            np.array(d["mean"]),
            np.array(d["std"]),
            np.array(d["weight"]),
            np.array(d["bias"]),
        )


# --- per-attribute report -------------------------------------------------------------------------


def clip_attributes(
    wav: np.ndarray, attrs: dict[str, Any], sr: int = 48000, *, style_pred: str | None = None
) -> dict[str, Any]:
    """Estimate what a clip's known attributes can be checked against.

    Args:
        wav: (2, L) audio; attrs: known ``bpm``, ``key``, ``mode``, ``style`` (any subset).
        style_pred: the style classifier's prediction for this clip, if any.

    Returns:
        ``lufs`` always; ``bpm_est``/``tempo`` when ``bpm`` is known; ``key_est``/``key`` when
        ``key`` is known (mode compared only if known); ``style_est``/``style_ok``.
    """
    out: dict[str, Any] = {"lufs": loudness_lufs(wav, sr)}
    if attrs.get("bpm"):
        est = estimate_tempo(wav, sr)
        out.update(
            bpm=float(attrs["bpm"]), bpm_est=est, tempo=tempo_outcome(est, float(attrs["bpm"]))
        )
    if attrs.get("key"):
        k, m, _ = estimate_key(wav, sr)
        true_key = normalize_key(str(attrs["key"]))
        out["key_est"] = f"{k} {m}"
        if attrs.get("mode") in ("major", "minor"):
            out["key"] = key_relation((k, m), (true_key, attrs["mode"]))
            out["mode_ok"] = m == attrs["mode"]
        else:
            out["key"] = "exact" if k == true_key else "other"
    if style_pred is not None and attrs.get("style"):
        out.update(style_est=style_pred, style_ok=style_pred == attrs["style"])
    return out


def summarize_attributes(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate :func:`clip_attributes` rows into per-attribute accuracies."""
    out: dict[str, Any] = {}
    t = [r for r in rows if "tempo" in r]
    if t:
        n = len(t)
        correct = sum(r["tempo"] == "correct" for r in t)
        octave = sum(r["tempo"] == "octave" for r in t)
        err = [abs(r["bpm_est"] - r["bpm"]) / r["bpm"] for r in t]
        out["tempo"] = {
            "clips": n,
            "accuracy_4pct": correct / n,
            "octave_errors": octave / n,
            "accuracy_with_octaves": (correct + octave) / n,
            "median_abs_error_pct": 100 * float(np.median(err)),
        }
    k = [r for r in rows if "key" in r]
    if k:
        n = len(k)
        rel = [r["key"] for r in k]
        modes = [r["mode_ok"] for r in k if "mode_ok" in r]
        out["key"] = {
            "clips": n,
            "exact": rel.count("exact") / n,
            "close": sum(x in ("exact", "fifth", "relative") for x in rel) / n,
            "mirex": float(np.mean([MIREX_KEY_WEIGHTS[x] for x in rel])),
            "mode_accuracy": float(np.mean(modes)) if modes else None,
        }
    s = [r for r in rows if "style_ok" in r]
    if s:
        out["style"] = {"clips": len(s), "accuracy": float(np.mean([r["style_ok"] for r in s]))}
    lufs = [r["lufs"] for r in rows if np.isfinite(r.get("lufs", -np.inf))]
    if lufs:
        out["loudness"] = {
            "clips": len(lufs),
            "method": "ITU-R BS.1770-4 integrated LUFS",
            "mean_lufs": float(np.mean(lufs)),
            "std_lufs": float(np.std(lufs)),
        }
    return out
