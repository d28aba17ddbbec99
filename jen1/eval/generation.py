"""``jen1 eval generation``: text-to-music evaluated the way papers do it, plus what our
captions let us measure.

1. Generate ``n`` clips from a prompt file (batched, seeded).
2. FAD-musicnn against a reference set (and a second one); the reference's split-half FAD
   (floor) and, optionally, FAD of the autoencoder's reconstructions of the reference (ceiling).
3. Tag agreement (prompt words mapped to MTT tags) and attribute adherence (tempo, key/mode,
   style, loudness) estimated from the signal.
Every metric is also measured on the real reference clips against their own captions, which
shows what the estimators can reach on real data.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jen1.errors import Jen1Error

SAMPLE_RATE = 48000


@dataclass
class PromptItem:
    """A prompt and the attributes known for it (bpm, key, mode, style, instruments)."""

    text: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReferenceClip:
    path: Path
    caption: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------------------


def _clean_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    from jen1.eval.adherence import normalize_key

    out = {k: attrs[k] for k in ("bpm", "key", "mode", "style", "instruments") if attrs.get(k)}
    if "key" in out:
        try:
            out["key"] = normalize_key(str(out["key"]))
        except Jen1Error:
            out.pop("key")
    if out.get("mode") not in (None, "major", "minor"):
        out.pop("mode")
    return out


def read_prompts(path: str | Path) -> list[PromptItem]:
    """Prompts from a text file (one a line; ``#`` comments; attributes parsed from the words,
    e.g. "120 BPM", "in D minor", a corpus style name) or a ``.jsonl`` file of objects with
    ``caption`` (or ``prompt``/``text``) and optional stored ``attributes`` (a corpus
    ``test_prompts.jsonl``)."""
    from jen1.eval.adherence import parse_attributes

    path = Path(path)
    if not path.is_file():
        raise Jen1Error(f"no prompt file at {path}")
    items = []
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix.lower() == ".jsonl":
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise Jen1Error(f"{path}:{i}: invalid JSON ({e.msg})") from None
            text = next(
                (rec[k] for k in ("caption", "prompt", "text") if isinstance(rec.get(k), str)), None
            )
            if not text or not text.strip():
                raise Jen1Error(f"{path}:{i}: no 'caption' text")
            attrs = rec.get("attributes") if isinstance(rec.get("attributes"), dict) else None
            items.append(
                PromptItem(text.strip(), _clean_attributes(attrs or parse_attributes(text)))
            )
    else:
        for line in lines:
            text = line.strip()
            if text and not text.startswith("#"):
                items.append(PromptItem(text, _clean_attributes(parse_attributes(text))))
    if not items:
        raise Jen1Error(f"{path} holds no prompts")
    return items


def read_reference(
    path: str | Path, split: str = "test", n: int | None = None
) -> list[ReferenceClip]:
    """Reference clips: the ``split`` of a corpus directory (``metadata.jsonl``, with captions and
    attributes) or every audio file under a folder (captions from sidecar ``.txt`` files)."""
    from jen1.audio import AUDIO_EXTENSIONS

    path = Path(path)
    if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
        return [ReferenceClip(path)]
    if not path.is_dir():
        raise Jen1Error(f"no reference directory at {path}")
    meta = path / "metadata.jsonl"
    if meta.exists():
        from jen1.data.metadata import read_metadata

        rows = [r for r in read_metadata(meta) if r["split"] == split]
        clips = [
            ReferenceClip(path / r["path"], r["caption"], _clean_attributes(r["attributes"]))
            for r in rows
        ]
    else:
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        clips = []
        for f in files:
            txt = f.with_suffix(".txt")
            caption = txt.read_text(encoding="utf-8").strip() if txt.exists() else None
            clips.append(ReferenceClip(f, caption or None))
    if not clips:
        raise Jen1Error(f"no {split} clips or audio files found in {path}")
    return clips[:n] if n else clips


def _load(path: Path, seconds: float | None) -> np.ndarray:
    from jen1.audio import load_audio

    wav = load_audio(path)
    return wav[:, : round(seconds * SAMPLE_RATE)] if seconds else wav


# --- features -------------------------------------------------------------------------------------


@dataclass
class ClipSet:
    """Features of a set of clips: musicnn patch features per clip, clip tag probabilities,
    attribute estimates, and the text each clip is compared with."""

    feats: list[np.ndarray] = field(default_factory=list)  # B x (P, 200)
    tags: list[np.ndarray] = field(default_factory=list)  # B x (50,)
    texts: list[str | None] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    estimates: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        tagger: Any,
        wav: np.ndarray,
        text: str | None,
        attrs: dict[str, Any],
        fad_hop: float | None,
    ) -> None:
        from jen1.eval.adherence import clip_attributes

        e = tagger.embed(wav[None], SAMPLE_RATE, hop_seconds=fad_hop)
        self.feats.append(e["penultimate"][0])
        self.tags.append(e["tags"][0])
        self.texts.append(text)
        self.attributes.append(attrs)
        self.estimates.append(clip_attributes(wav, attrs, SAMPLE_RATE))

    def apply_style(self, clf: Any) -> None:
        for f, attrs, est in zip(self.feats, self.attributes, self.estimates):
            if attrs.get("style") in clf.classes:  # styles it never saw are not counted
                pred = clf.predict(f)
                est.update(style_est=pred, style_ok=pred == attrs["style"])


def _bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="clip", disable=not progress, leave=False)


def featurize(
    tagger: Any,
    clips: list[ReferenceClip],
    seconds: float | None,
    fad_hop: float | None,
    desc: str,
    progress: bool,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ClipSet:
    """Load, optionally transform (e.g. reconstruct), and featurize reference clips one by one."""
    out = ClipSet()
    with _bar(len(clips), desc, progress) as bar:
        for c in clips:
            wav = _load(c.path, seconds)
            if transform is not None:
                wav = transform(wav)
            out.add(tagger, wav, c.caption, c.attributes, fad_hop)
            bar.update(1)
    return out


def style_classifier(
    tagger: Any, reference: Path, n: int, seconds: float | None, cache: Path | None, progress: bool
) -> tuple[Any, dict[str, Any]] | None:
    """Train a :class:`StyleClassifier` on up to ``n`` train-split clips of a corpus (balanced
    round-robin over styles, deterministic); cached as JSON at ``cache``."""
    from jen1.eval.adherence import StyleClassifier

    key = {
        "reference": str(Path(reference).resolve()),
        "train_clips_requested": n,
        "seconds": seconds,
    }
    if cache is not None and cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return StyleClassifier.from_dict(saved["classifier"]), saved["info"]
    try:
        train = [c for c in read_reference(reference, "train") if c.attributes.get("style")]
    except Jen1Error:
        return None
    by_style: dict[str, list[ReferenceClip]] = {}
    for c in train:
        by_style.setdefault(c.attributes["style"], []).append(c)
    if len(by_style) < 2:
        return None
    chosen: list[ReferenceClip] = []
    for i in range(max(len(v) for v in by_style.values())):
        for s in sorted(by_style):
            if i < len(by_style[s]) and len(chosen) < n:
                chosen.append(by_style[s][i])
    feats = []
    with _bar(len(chosen), "style classifier: embed train clips", progress) as bar:
        for c in chosen:
            feats.append(tagger.embed(_load(c.path, seconds)[None], SAMPLE_RATE)["penultimate"][0])
            bar.update(1)
    clf = StyleClassifier.fit(feats, [c.attributes["style"] for c in chosen])
    info = {"train_clips": len(chosen), "classes": clf.classes, "chance": 1.0 / len(clf.classes)}
    if cache is not None:
        from jen1.fsutil import atomic_write_text

        atomic_write_text(
            cache, json.dumps({"key": key, "info": info, "classifier": clf.to_dict()})
        )
    return clf, info


# --- generation -----------------------------------------------------------------------------------


def generate_clips(
    pipe: Any,
    prompts: list[PromptItem],
    n: int,
    seconds: float,
    *,
    batch: int = 4,
    steps: int | None = None,
    cfg_scale: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Iterable[tuple[list[PromptItem], np.ndarray]]:
    """Yield (prompts, (b, 2, L) float32 audio) batch by batch; prompts are cycled up to ``n``
    and batch k uses seed ``seed + k``."""
    from tqdm import tqdm

    items = [prompts[i % len(prompts)] for i in range(n)]
    with tqdm(total=n, desc="generate", unit="clip", disable=not progress) as bar:
        for k, start in enumerate(range(0, n, batch)):
            chunk = items[start : start + batch]

            def cb(i: int, total: int) -> None:
                bar.set_postfix_str(f"step {i}/{total}")

            wav = pipe.generate(
                [p.text for p in chunk],
                seconds,
                steps=steps,
                cfg_scale=cfg_scale,
                seed=seed + k,
                callback=cb,
            )
            bar.update(len(chunk))
            yield chunk, wav.float().cpu().numpy()


# --- the whole evaluation -------------------------------------------------------------------------


def evaluate_generation(
    model: str | Path | None,
    prompts_file: str | Path,
    reference: str | Path,
    *,
    n: int = 50,
    seconds: float = 10.0,
    batch: int = 4,
    steps: int | None = None,
    cfg_scale: float | None = None,
    seed: int = 0,
    reference2: str | Path | None = None,
    split: str = "test",
    reconstruct: bool = False,
    style_train: int = 200,
    fad_hop: float | None = 1.0,
    out_dir: str | Path | None = None,
    save_audio: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the evaluation (see the module docstring) and return a JSON-ready dict.

    Args:
        model: model directory; None loads the shipped default.
        prompts_file: see :func:`read_prompts`; reference/reference2: see :func:`read_reference`.
        n, seconds, batch, steps, cfg_scale, seed: generation settings.
        reconstruct: also FAD of the autoencoder's reconstructions of the reference (ceiling).
        style_train: train clips for the style classifier (0: no style metric).
        fad_hop: musicnn patch hop in seconds for FAD (None: 3 s patches without overlap).
        out_dir: where the PNG sheets (and with ``save_audio`` the WAVs) go.
    """
    from jen1.eval.adherence import summarize_attributes, tag_agreement
    from jen1.eval.fad import fad_musicnn, split_half_fad
    from jen1.eval.musicnn import MTT_LABELS, MusicnnMTT
    from jen1.pipeline import Pipeline

    if n < 1:
        raise Jen1Error(f"--n must be at least 1, got {n}")
    if batch < 1:
        raise Jen1Error(f"--batch must be at least 1, got {batch}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise Jen1Error(f"--seconds must be positive, got {seconds}")
    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir else None
    prompts = read_prompts(prompts_file)
    ref_clips = read_reference(reference, split)
    ref2_clips = read_reference(reference2, split) if reference2 else None
    tagger = MusicnnMTT.from_package()
    pipe = Pipeline.from_pretrained(model)
    steps = pipe.cfg.sampling.steps if steps is None else steps
    cfg_scale = pipe.cfg.sampling.cfg_scale if cfg_scale is None else cfg_scale
    timing: dict[str, float] = {}

    # 1. generate and featurize batch by batch (audio is not kept, apart from a few for the sheet)
    gen = ClipSet()
    sheet: list[tuple[str, np.ndarray]] = []
    t_gen, t0 = 0.0, time.perf_counter()
    k = 0
    for chunk, wavs in generate_clips(
        pipe,
        prompts,
        n,
        seconds,
        batch=batch,
        steps=steps,
        cfg_scale=cfg_scale,
        seed=seed,
        progress=progress,
    ):
        t_gen += time.perf_counter() - t0
        for p, w in zip(chunk, wavs):
            gen.add(tagger, w, p.text, p.attributes, fad_hop)
            if len(sheet) < 12:
                sheet.append((p.text, w))
            if save_audio and out is not None:
                from jen1.audio import save_audio as save

                save(out / "audio" / f"{k:04d}.wav", w, overwrite=True)
            k += 1
        t0 = time.perf_counter()
    timing["generate_s"] = t_gen
    timing["generate_x_realtime"] = n * seconds / max(t_gen, 1e-9)

    # 2. references
    t0 = time.perf_counter()
    ref = featurize(tagger, ref_clips, seconds, fad_hop, "reference", progress)
    ref2 = (
        featurize(tagger, ref2_clips, seconds, fad_hop, "reference 2", progress)
        if ref2_clips
        else None
    )
    recon = None
    if reconstruct:
        import torch

        from jen1.eval.autoencoder import reconstruct as ae_reconstruct

        def rec(w: np.ndarray) -> np.ndarray:
            return ae_reconstruct(pipe.autoencoder, torch.from_numpy(w)[None])[0].numpy()

        recon = featurize(
            tagger, ref_clips, seconds, fad_hop, "reconstruct reference", progress, rec
        )
    timing["reference_features_s"] = time.perf_counter() - t0

    # 3. style classifier (corpus references only)
    t0 = time.perf_counter()
    style_info = None
    if style_train > 0:
        cache = out / "style_classifier.json" if out is not None else None
        got = style_classifier(tagger, Path(reference), style_train, seconds, cache, progress)
        if got is not None:
            clf, style_info = got
            for s in (gen, ref):
                s.apply_style(clf)
            held = [e["style_ok"] for e in ref.estimates if "style_ok" in e]
            style_info["heldout_accuracy"] = float(np.mean(held)) if held else None
            style_info["heldout_clips"] = len(held)
    timing["style_classifier_s"] = time.perf_counter() - t0

    # 4. metrics
    ref_name = (
        f"{Path(reference).name}/{split}"
        if (Path(reference) / "metadata.jsonl").exists()
        else Path(reference).name
    )
    fad: dict[str, Any] = {
        "metric": "FAD-musicnn",
        "embedding": "musicnn MTT penultimate (200-d)",
        "patch_hop_seconds": fad_hop,
    }
    fad["reference"] = {**fad_musicnn(gen.feats, ref.feats), "name": ref_name}
    fad["floor_split_half"] = split_half_fad(ref.feats)
    if ref2 is not None:
        fad["reference2"] = {**fad_musicnn(gen.feats, ref2.feats), "name": Path(reference2).name}
    if recon is not None:
        fad["reconstruction"] = fad_musicnn(recon.feats, ref.feats)
    tags = {"generated": tag_agreement(np.stack(gen.tags), gen.texts, MTT_LABELS)}
    ref_texts = [t for t in ref.texts if t]
    if ref_texts:
        idx = [i for i, t in enumerate(ref.texts) if t]
        tags["reference"] = tag_agreement(
            np.stack([ref.tags[i] for i in idx]), ref_texts, MTT_LABELS
        )
    attrs = {
        "generated": summarize_attributes(gen.estimates),
        "reference": summarize_attributes(ref.estimates),
    }
    timing["total_s"] = time.perf_counter() - t_start

    per_clip = []
    for text, a, e, t in zip(gen.texts, gen.attributes, gen.estimates, gen.tags):
        top = [MTT_LABELS[i] for i in np.argsort(-t)[:5]]
        per_clip.append({"prompt": text, "attributes": a, "estimates": e, "top_tags": top})
    result = {
        "model": str(model) if model else "default",
        "n": n,
        "seconds": seconds,
        "steps": steps,
        "cfg_scale": cfg_scale,
        "seed": seed,
        "prompts": str(prompts_file),
        "reference": str(reference),
        "split": split,
        "fad": fad,
        "tags": tags,
        "attributes": attrs,
        "style_classifier": style_info,
        "timing": timing,
        "per_clip": [_jsonable(r) for r in per_clip],
    }
    if out is not None:
        result["files"] = {
            "sheet": str(out / "spectrograms.png"),
            "metrics": str(out / "metrics.png"),
        }
        plot_sheet(sheet, out / "spectrograms.png")
        plot_metrics(result, gen.estimates, ref.estimates, out / "metrics.png")
    return result


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# --- report ---------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:4.0f}%"


def format_table(result: dict[str, Any]) -> str:
    """A paper-style table: generated clips against the real reference clips."""
    fad = result["fad"]
    rows = [
        f"jen1 eval generation: {result['n']} clips x {result['seconds']:g} s "
        f"(steps {result['steps']}, cfg {result['cfg_scale']:g}, seed {result['seed']})",
        f"{'metric':<50}{'generated':>16}{'reference':>16}",
    ]

    def row(name: str, g: str, r: str = "") -> None:
        rows.append(f"{name:<50}{g:>16}{r:>16}")

    fl = fad["floor_split_half"]
    half = f"(halves {fl['clips_per_half']}+{fl['clips_per_half']})"
    row(
        f"FAD-musicnn vs {fad['reference']['name']} (lower is better)",
        f"{fad['reference']['value']:.3f}",
        f"{fl['value']:.3f} floor",
    )
    rows.append(f"{'':<50}{'':>16}{half:>16}")
    if "reference2" in fad:
        row(f"FAD-musicnn vs {fad['reference2']['name']}", f"{fad['reference2']['value']:.3f}")
    if "reconstruction" in fad:
        row(
            "FAD-musicnn of AE reconstructions (ceiling)",
            "",
            f"{fad['reconstruction']['value']:.3f}",
        )
    tg, tr = result["tags"].get("generated", {}), result["tags"].get("reference", {})

    def tagfmt(t: dict) -> str:
        return f"{t['mapped']:.2f}/{t['unmapped']:.2f}" if t.get("clips") else "-"

    row("tag prob. asked-for / other tags", tagfmt(tg), tagfmt(tr))
    row(
        "tag agreement (difference)",
        f"{tg['difference']:+.3f}" if tg.get("clips") else "-",
        f"{tr['difference']:+.3f}" if tr.get("clips") else "-",
    )
    row(
        "asked-for tags in top 5",
        _pct(tg.get("hit_at_5")) if tg.get("clips") else "-",
        _pct(tr.get("hit_at_5")) if tr.get("clips") else "-",
    )
    ag, ar = result["attributes"]["generated"], result["attributes"]["reference"]

    def get(d: dict, a: str, k: str) -> str:
        return _pct(d[a][k]) if a in d and d[a].get(k) is not None else "-"

    row("tempo within 4%", get(ag, "tempo", "accuracy_4pct"), get(ar, "tempo", "accuracy_4pct"))
    row(
        "tempo octave errors (x1/2, x2, x1/3, x3)",
        get(ag, "tempo", "octave_errors"),
        get(ar, "tempo", "octave_errors"),
    )
    row("key exact", get(ag, "key", "exact"), get(ar, "key", "exact"))
    row("key close (exact, fifth, relative)", get(ag, "key", "close"), get(ar, "key", "close"))
    row("key MIREX score", get(ag, "key", "mirex"), get(ar, "key", "mirex"))
    row("mode (major/minor)", get(ag, "key", "mode_accuracy"), get(ar, "key", "mode_accuracy"))
    if result.get("style_classifier"):
        si = result["style_classifier"]
        row(
            f"style (classifier, {len(si['classes'])} styles, chance {100 * si['chance']:.0f}%)",
            get(ag, "style", "accuracy"),
            get(ar, "style", "accuracy") + " held-out",
        )
    if "loudness" in ag:
        lr = ar.get("loudness")
        row(
            "loudness LUFS (BS.1770-4) mean +- std",
            f"{ag['loudness']['mean_lufs']:.1f} +- {ag['loudness']['std_lufs']:.1f}",
            f"{lr['mean_lufs']:.1f} +- {lr['std_lufs']:.1f}" if lr else "-",
        )
    t = result["timing"]
    rows.append(
        f"generation {t['generate_s']:.0f} s ({t['generate_x_realtime']:.2f}x real time), "
        f"total {t['total_s']:.0f} s"
    )
    return "\n".join(rows)


def write_json(result: dict[str, Any], path: Path) -> None:
    from jen1.fsutil import atomic_write_text

    atomic_write_text(Path(path), json.dumps(_jsonable(result), indent=1))


def plot_sheet(items: list[tuple[str, np.ndarray]], path: Path) -> None:
    """Spectrograms (mid channel) of generated clips in a grid, each titled with its prompt."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not items:
        return
    cols = min(3, len(items))
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(items) :]:
        ax.axis("off")
    for ax, (text, wav) in zip(axes.flat, items):
        mid = wav.mean(axis=0)
        nfft = 2048 if mid.size >= 4096 else 256
        ax.specgram(mid, NFFT=nfft, Fs=SAMPLE_RATE, noverlap=nfft * 3 // 4, cmap="magma", vmin=-120)
        ax.set_title("\n".join(textwrap.wrap(text, 60)[:3]), fontsize=7)
        ax.set_ylim(0, 12000)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_metrics(
    result: dict[str, Any], gen_est: list[dict], ref_est: list[dict], path: Path
) -> None:
    """Four panels: FAD-musicnn bars, requested vs estimated tempo, key outcomes, tag agreement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(18, 4))
    fad = result["fad"]
    names, vals = ["generated"], [fad["reference"]["value"]]
    if "reference2" in fad:
        names.append("gen vs ref2")
        vals.append(fad["reference2"]["value"])
    names.append("floor (split half)")
    vals.append(fad["floor_split_half"]["value"])
    if "reconstruction" in fad:
        names.append("AE recon.")
        vals.append(fad["reconstruction"]["value"])
    ax[0].bar(names, vals, color=["C3", "C1", "C2", "C0"][: len(vals)])
    ax[0].set_title("FAD-musicnn (lower is better)")
    ax[0].tick_params(axis="x", labelsize=7)
    for est, label, c in ((gen_est, "generated", "C3"), (ref_est, "reference", "C0")):
        pts = [(e["bpm"], e["bpm_est"]) for e in est if "bpm_est" in e]
        if pts:
            x, y = zip(*pts)
            ax[1].scatter(x, y, s=12, c=c, label=label, alpha=0.7)
    lim = [30, 300]
    for f in (0.5, 1.0, 2.0):
        ax[1].plot(lim, [f * v for v in lim], "k--" if f == 1 else "k:", lw=0.8)
    ax[1].set_xlim(40, 220)
    ax[1].set_ylim(20, 300)
    ax[1].set_xlabel("requested BPM")
    ax[1].set_ylabel("estimated BPM")
    ax[1].legend(fontsize=7)
    ax[1].set_title("tempo")
    cats = ["exact", "fifth", "relative", "parallel", "other"]
    for j, (est, label, c) in enumerate(
        ((gen_est, "generated", "C3"), (ref_est, "reference", "C0"))
    ):
        rel = [e["key"] for e in est if "key" in e]
        if rel:
            ax[2].bar(
                np.arange(5) + 0.4 * j,
                [rel.count(k) / len(rel) for k in cats],
                0.4,
                color=c,
                label=label,
            )
    ax[2].set_xticks(np.arange(5) + 0.2, cats, fontsize=8)
    ax[2].set_title("key estimate vs asked")
    ax[2].legend(fontsize=7)
    tg = [result["tags"].get(k, {}) for k in ("generated", "reference")]
    for j, (t, c) in enumerate(zip(tg, ("C3", "C0"))):
        if t.get("clips"):
            ax[3].bar(
                np.arange(2) + 0.4 * j,
                [t["mapped"], t["unmapped"]],
                0.4,
                color=c,
                label=("generated", "reference")[j],
            )
    ax[3].set_xticks(np.arange(2) + 0.2, ["asked-for tags", "other tags"])
    ax[3].set_title("musicnn tag probability")
    ax[3].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
