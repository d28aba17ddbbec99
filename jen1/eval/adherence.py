"""Prompt adherence: what the captions let us measure.

(a) Tag agreement: words of a prompt mapped to the 50 MagnaTagATune tags of musicnn; the score
    is the tagger's mean probability for the mapped tags against its mean over the other tags.
(b) Attributes estimated from the signal and compared with the prompt's: tempo (onset-strength
    autocorrelation), key and mode (chroma + Krumhansl-Schmuckler profiles), style (logistic
    regression on musicnn features), loudness (ITU-R BS.1770-4 integrated LUFS). The signal
    estimators other than style live in :mod:`jen1.eval.music`.

All estimators take numpy audio ``(2, L)`` or ``(L,)`` at ``sr`` (default 48 kHz).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from jen1.errors import Jen1Error
from jen1.eval.music import (
    MIREX_KEY_WEIGHTS,
    estimate_key,
    estimate_tempo,
    key_relation,
    loudness_lufs,
    normalize_key,
    tempo_outcome,
)

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


def parse_attributes(prompt: str, styles: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Attributes stated in the words of a prompt: ``bpm``, ``key``, ``mode``, ``meter``,
    ``style``.

    Args:
        prompt: free text, e.g. "a slow piano ballad in D minor at 70 BPM".
        styles: style name -> phrases naming it (default: the corpus styles of
            ``jen1.synth.captions.STYLE_WORDS``); the longest phrase found wins.
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
    # the musical controls' parser knows more wordings ("tempo 132", "♩ = 168", "key: Em",
    # "in 3/4") and is what a model with controls is told: its tempo wins (a range "100-105
    # BPM" is its middle), and it fills a key or meter the patterns above miss
    from jen1.conditioning.controls import parse_prompt

    parsed = parse_prompt(prompt, strict=False).to_dict()
    # the key the patterns above found stays, with its mode; a mode alone ("a minor-key
    # ballad") names no key
    if "key" in out or "key" not in parsed:
        parsed.pop("key", None)
        parsed.pop("mode", None)
    out.update(parsed)
    if styles is None:
        from jen1.synth.captions import STYLE_WORDS

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
        ``key`` is known (mode compared only if known); ``meter_est``/``meter_ok`` (duple or
        triple grouping, :mod:`jen1.eval.meter`) when ``meter`` and ``bpm`` are;
        ``chord_match`` (share of beats) and
        ``chord_beats`` when ``chords`` and ``bpm`` are (:mod:`jen1.eval.chords`);
        ``style_est``/``style_ok``.
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
    if attrs.get("meter") and attrs.get("bpm"):
        from jen1.eval.meter import estimate_grouping, meter_grouping

        want = meter_grouping(str(attrs["meter"]))
        got_group = estimate_grouping(wav, sr, float(attrs["bpm"])) if want else None
        if got_group is not None:
            out.update(meter_est=got_group, meter_ok=got_group == want)
    if attrs.get("chords") and attrs.get("bpm"):
        from jen1.eval.chords import chord_match

        meter = str(attrs.get("meter") or "4/4")
        per_bar = int(meter.split("/")[0]) if meter.split("/")[0].isdigit() else 4
        got = chord_match(wav, sr, attrs["chords"], float(attrs["bpm"]), per_bar)
        if got["matched"] is not None:
            out.update(chord_match=got["matched"], chord_beats=got["beats"])
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
            "accuracy_8pct": float(np.mean([e <= 0.08 for e in err])),
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
    m = [r for r in rows if "meter_ok" in r]
    if m:
        out["meter"] = {
            "clips": len(m),
            "accuracy": float(np.mean([r["meter_ok"] for r in m])),
            "method": "duple/triple accent grouping at the asked tempo (chance 50%)",
        }
    c = [r for r in rows if "chord_match" in r]
    if c:
        out["chords"] = {
            "clips": len(c),
            "beat_match": float(np.mean([r["chord_match"] for r in c])),
            "method": "triad of each beat's chroma (24 templates) = the asked chord's triad",
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
