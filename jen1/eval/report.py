"""Reporting for ``jen1 eval generation``: the paper-style text table, the JSON result file,
and two figures (a spectrogram sheet of generated clips and a metrics panel).
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from jen1.audio import SAMPLE_RATE


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


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
    row("tempo within 8%", get(ag, "tempo", "accuracy_8pct"), get(ar, "tempo", "accuracy_8pct"))
    row(
        "tempo octave errors (x1/2, x2, x1/3, x3)",
        get(ag, "tempo", "octave_errors"),
        get(ar, "tempo", "octave_errors"),
    )
    row("key exact", get(ag, "key", "exact"), get(ar, "key", "exact"))
    row("key close (exact, fifth, relative)", get(ag, "key", "close"), get(ar, "key", "close"))
    row("key MIREX score", get(ag, "key", "mirex"), get(ar, "key", "mirex"))
    row("mode (major/minor)", get(ag, "key", "mode_accuracy"), get(ar, "key", "mode_accuracy"))
    if "meter" in ag:
        row("meter (duple/triple grouping)", get(ag, "meter", "accuracy"), "-")
    if "chords" in ag:
        row("chord match per beat (triads)", get(ag, "chords", "beat_match"), "-")
    ax = result["attributes"].get("generated_explicit")
    if ax is not None:  # the same prompts and seeds with explicit controls
        for label, (att, key) in {
            "with explicit controls: tempo within 4%": ("tempo", "accuracy_4pct"),
            "with explicit controls: tempo within 8%": ("tempo", "accuracy_8pct"),
            "with explicit controls: key exact": ("key", "exact"),
            "with explicit controls: key close": ("key", "close"),
            "with explicit controls: key MIREX score": ("key", "mirex"),
            "with explicit controls: meter (duple/triple)": ("meter", "accuracy"),
            "with explicit controls: chord match per beat": ("chords", "beat_match"),
        }.items():
            row(label, get(ax, att, key), "-")
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

    atomic_write_text(Path(path), json.dumps(jsonable(result), indent=1))


def plot_sheet(items: list[tuple[str, np.ndarray]], path: Path) -> None:
    """Spectrograms (mid channel) of generated clips in a grid, each titled with its prompt."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jen1.eval.spectrogram import draw_specgram

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
        draw_specgram(ax, mid, SAMPLE_RATE, nfft)
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
