"""What a model is told: a request's controls, field by field, with where each value came from.

The order of precedence is explicit settings (``--bpm``, a web field, ``Controls`` in the
Python API), then the words of the prompt (:func:`jen1.conditioning.controls.parse_prompt`),
then values estimated from the known audio (continuation and inpainting,
:mod:`jen1.inference.estimate`), then defaults that a chord progression needs to be placed in
time (a tempo and a meter). :meth:`ToldControls.describe` is the line a user sees.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from jen1.conditioning.controls import Controls, format_chords, merge, parse_prompt

# Chords are per bar: placing them in time needs a tempo and a meter; these fill in when a
# progression comes without them (shown to the user as "default").
CHORD_DEFAULT_BPM = 120.0
CHORD_DEFAULT_METER = (4, 4)
SOURCES = ("given", "prompt", "estimated", "default")
_GROUPS = {"bpm": ("bpm",), "key": ("key", "mode"), "meter": ("meter",), "chords": ("chords",)}


@dataclass(frozen=True)
class ToldControls:
    """One batch item's controls and the source of each control that is set.

    Attributes:
        controls: the values the model is conditioned on.
        sources: ``(control, source)`` pairs, control in ``bpm, key, meter, chords`` (key covers
            the mode), source in :data:`SOURCES`.
    """

    controls: Controls = dataclasses.field(default_factory=Controls)
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, control: str) -> str | None:
        return dict(self.sources).get(control)

    def describe(self) -> str:
        """"tempo 120 BPM, key D minor (from the prompt), meter 4/4 (default)"."""
        c, parts = self.controls, []
        for control, text in (
            ("bpm", None if c.bpm is None else f"tempo {c.bpm:g} BPM"),
            ("key", None if c.key is None and c.mode is None
             else "key " + " ".join(x for x in (c.key, c.mode) if x)),
            ("meter", None if c.meter is None else f"meter {c.meter[0]}/{c.meter[1]}"),
            ("chords", None if c.chords is None else f"chords {format_chords(c.chords)}"),
        ):
            if text is None:
                continue
            src = self.source(control)
            note = {"prompt": " (from the prompt)", "estimated": " (estimated from the audio)",
                    "default": " (default)"}.get(src or "", "")
            parts.append(text + note)
        return ", ".join(parts) if parts else "no musical controls"

    def with_estimates(self, estimated: Controls) -> ToldControls:
        """These controls with the unset ones filled from ``estimated`` (marked estimated)."""
        merged = merge(self.controls, estimated)
        return ToldControls(merged, _sources(merged, self, "estimated"))


def _sources(c: Controls, prior: ToldControls, new: str) -> tuple[tuple[str, str], ...]:
    """Sources of ``c``'s set controls: ``prior``'s where it had one, else ``new``."""
    out = []
    for control, names in _GROUPS.items():
        if any(getattr(c, n) is not None for n in names):
            out.append((control, prior.source(control) or new))
    return tuple(out)


def resolve_controls(explicit: Controls | None, prompt: str | None) -> ToldControls:
    """Explicit controls, then the prompt's (out-of-range words dropped), then chord defaults.

    Args:
        explicit: what the user set (None or empty: nothing).
        prompt: the item's prompt, or None.
    """
    explicit = explicit or Controls()
    given = ToldControls(explicit, _sources(explicit, ToldControls(), "given"))
    # a prompt's "1000 BPM" is dropped, not refused: the words still reach the model as text
    parsed = parse_prompt(prompt, strict=False) if prompt else Controls()
    merged = merge(explicit, parsed)
    told = ToldControls(merged, _sources(merged, given, "prompt"))
    if merged.chords is not None and (merged.bpm is None or merged.meter is None):
        filled = dataclasses.replace(
            merged,
            bpm=CHORD_DEFAULT_BPM if merged.bpm is None else merged.bpm,
            meter=CHORD_DEFAULT_METER if merged.meter is None else merged.meter,
        )
        told = ToldControls(filled, _sources(filled, told, "default"))
    return told
