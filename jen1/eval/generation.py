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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jen1.audio import SAMPLE_RATE
from jen1.errors import Jen1Error
from jen1.eval.report import jsonable, plot_metrics, plot_sheet


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
    """The attributes adherence is measured on. A clip without labels of its own takes the
    tempo, key and mode ``jen1 data caption --enrich`` estimated (``attributes.estimated``),
    which its caption states, so real-music prompts get tempo and key rows too."""
    from jen1.eval.music import normalize_key

    keys = ("bpm", "key", "mode", "meter", "chords", "style", "instruments")
    estimated = attrs.get("estimated") if isinstance(attrs.get("estimated"), dict) else {}
    if not attrs.get("bpm") and not attrs.get("key"):
        attrs = {**attrs, **{k: estimated[k] for k in ("bpm", "key", "mode") if k in estimated}}
    out = {k: attrs[k] for k in keys if attrs.get(k)}
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
    if path.suffix.lower() == ".jsonl":
        from jen1.data.metadata import read_jsonl

        for i, rec in read_jsonl(path):
            if not isinstance(rec, dict):
                raise Jen1Error(f"{path}:{i}: not a JSON object")
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
        for line in path.read_text(encoding="utf-8").splitlines():
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


def pick_prompts(prompts: list[PromptItem], n: int) -> list[PromptItem]:
    """``n`` prompts: evenly spaced over ``prompts`` when there are more (a corpus lists its
    test clips by source, so the first ``n`` would be a few sources' only), else cycled."""
    if len(prompts) > n:
        return [prompts[i * len(prompts) // n] for i in range(n)]
    return [prompts[i % len(prompts)] for i in range(n)]


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
    explicit_controls: bool = False,
) -> Iterable[tuple[list[PromptItem], np.ndarray]]:
    """Yield (prompts, (b, 2, L) float32 audio) batch by batch; batch k uses seed ``seed + k``.
    ``n`` prompts (:func:`pick_prompts`): evenly spaced over the list when it is longer, cycled
    when it is shorter. With ``explicit_controls`` each prompt's known tempo,
    key and meter are also given as explicit controls (a model trained with them)."""
    from tqdm import tqdm

    items = pick_prompts(prompts, n)
    with tqdm(total=n, desc="generate", unit="clip", disable=not progress) as bar:
        for k, start in enumerate(range(0, n, batch)):
            chunk = items[start : start + batch]

            def cb(i: int, total: int) -> None:
                bar.set_postfix_str(f"step {i}/{total}")

            if explicit_controls:
                wav = _generate_with_controls(pipe, chunk, seconds, steps, cfg_scale, seed + k, cb)
            else:
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


def explicit_controls_of(attrs: dict[str, Any]) -> Any:
    """The controls a prompt's known attributes give (tempo, key and mode, meter, chords);
    values the controls do not accept are left out."""
    from jen1.conditioning.controls import ControlError, Controls, merge

    out = Controls()
    for part in ({"bpm": attrs.get("bpm")}, {"key": attrs.get("key"), "mode": attrs.get("mode")},
                 {"meter": attrs.get("meter")}, {"chords": attrs.get("chords")}):  # fmt: skip
        try:
            out = merge(out, Controls.from_user(**part))
        except ControlError:
            continue
    return out


def _generate_with_controls(pipe, chunk, seconds, steps, cfg_scale, seed, cb):
    """One batch with per-prompt explicit controls (the request's ``told``, item by item)."""
    import dataclasses

    import torch

    from jen1.conditioning.told import resolve_controls
    from jen1.request import GenerateRequest, SamplingParams

    params = SamplingParams(steps, cfg_scale, seed=seed)
    req = GenerateRequest([p.text for p in chunk], seconds, params)
    told = tuple(resolve_controls(explicit_controls_of(p.attributes), p.text) for p in chunk)
    req = dataclasses.replace(req.resolve(pipe.cfg), told=told)
    return torch.cat(list(pipe.stream(req, callback=cb)), dim=-1)


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
    controls: str = "text",
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
        controls: ``"text"``: the prompts only (their words still become controls for a model
            trained with them); ``"explicit"``: each prompt's known tempo, key and meter also
            given as explicit controls; ``"both"``: the text run, then the same clips again
            with explicit controls, reported as ``attributes.generated_explicit``.
    """
    from jen1.eval.adherence import summarize_attributes, tag_agreement
    from jen1.eval.fad import fad_musicnn, split_half_fad
    from jen1.eval.musicnn import MTT_LABELS, MusicnnMTT
    from jen1.pipeline import Pipeline

    if n < 1:
        raise Jen1Error(f"--n must be at least 1, got {n}")
    if batch < 1:
        raise Jen1Error(f"--batch must be at least 1, got {batch}")
    if controls not in ("text", "explicit", "both"):
        raise Jen1Error(f"--controls must be text, explicit or both, got {controls!r}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise Jen1Error(f"--seconds must be positive, got {seconds}")
    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir else None
    prompts = read_prompts(prompts_file)
    ref_clips = read_reference(reference, split)
    ref2_clips = read_reference(reference2, split) if reference2 else None
    tagger = MusicnnMTT.from_package()
    pipe = Pipeline.from_pretrained(model)
    if controls != "text" and pipe.cfg.unet.controls is None:
        raise Jen1Error(
            "--controls: this model was trained without musical controls (use --controls text)"
        )
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
        explicit_controls=controls == "explicit",
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
    if controls == "both":  # the same prompts and seeds, now with explicit controls
        told = ClipSet()
        for chunk, wavs in generate_clips(
            pipe, prompts, n, seconds, batch=batch, steps=steps, cfg_scale=cfg_scale,
            seed=seed, progress=progress, explicit_controls=True,
        ):  # fmt: skip
            for p, w in zip(chunk, wavs):
                told.add(tagger, w, p.text, p.attributes, fad_hop)
        attrs["generated_explicit"] = summarize_attributes(told.estimates)
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
        "controls": controls,
        "prompts": str(prompts_file),
        "reference": str(reference),
        "split": split,
        "fad": fad,
        "tags": tags,
        "attributes": attrs,
        "style_classifier": style_info,
        "timing": timing,
        "per_clip": [jsonable(r) for r in per_clip],
    }
    if out is not None:
        result["files"] = {
            "sheet": str(out / "spectrograms.png"),
            "metrics": str(out / "metrics.png"),
        }
        plot_sheet(sheet, out / "spectrograms.png")
        plot_metrics(result, gen.estimates, ref.estimates, out / "metrics.png")
    return result
