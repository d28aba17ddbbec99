"""Natural, varied captions built from a clip's attributes (style, tempo, key, instruments, mood).

Every caption names the style and the tempo: the BPM number in about 70% of captions, a tempo
word (``slow``, ``upbeat``, ...) otherwise, often both. Key, instruments and mood are optional
parts. Twelve sentence templates and synonym tables keep the wording varied; the attributes are
stored next to the caption so adherence to a prompt can be measured later.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "rock": ("rock", "rock", "classic rock", "guitar rock"),
    "pop": ("pop", "pop", "indie pop", "pop-rock"),
    "jazz swing": ("jazz swing", "swing jazz", "swing", "jazz"),
    "bossa nova": ("bossa nova", "bossa nova", "Brazilian bossa nova", "bossa"),
    "waltz": ("waltz", "waltz", "3/4 waltz", "old-fashioned waltz"),
    "electronic dance": ("electronic dance", "EDM", "dance", "house"),
    "ambient": ("ambient", "ambient", "atmospheric ambient", "ambient electronic"),
    "classical chamber": ("classical chamber", "chamber music", "classical", "chamber"),
    "folk": ("folk", "acoustic folk", "folk", "traditional folk"),
    "blues": ("blues", "blues", "12-bar blues", "shuffle blues"),
    "hip-hop": ("hip-hop", "boom-bap hip-hop", "hip-hop", "lo-fi hip-hop"),
    "reggae": ("reggae", "reggae", "roots reggae", "Jamaican reggae"),
    "funk": ("funk", "funk", "funky groove", "seventies funk"),
    "piano ballad": ("piano ballad", "ballad", "soft ballad", "pop ballad"),
    "synthwave": ("synthwave", "synthwave", "retro synthwave", "eighties synth-pop"),
    "country": ("country", "country", "classic country", "country and western"),
    "classical chorale": ("Bach chorale", "chorale", "four-part chorale", "baroque chorale"),
    "folk tune": ("traditional folk tune", "folk tune", "Celtic folk tune", "traditional tune"),
    "renaissance polyphony": (
        "Renaissance polyphony",
        "Renaissance choral polyphony",
        "polyphonic Renaissance",
        "early music polyphony",
    ),
}
NOUNS = ("track", "tune", "piece", "song", "instrumental", "number", "recording")
INSTRUMENT_WORDS: dict[str, tuple[str, ...]] = {
    "piano": ("piano", "grand piano", "acoustic piano"),
    "electric piano": ("electric piano", "Rhodes", "e-piano"),
    "upright bass": ("upright bass", "double bass", "acoustic bass"),
    "double bass": ("double bass", "contrabass"),
    "electric bass": ("electric bass", "bass guitar", "fingered bass"),
    "drums": ("drums", "a drum kit", "live drums", "acoustic drums"),
    "brushed drums": ("soft brushes", "brushed drums", "brush drums"),
    "electronic drums": ("electronic drums", "drum machine", "electronic beats"),
    "808 drum machine": ("808 drums", "an 808 drum machine", "TR-808 beats"),
    "nylon guitar": ("nylon guitar", "nylon-string guitar", "classical guitar"),
    "acoustic guitar": ("acoustic guitar", "steel-string guitar", "strummed acoustic guitar"),
    "clean electric guitar": ("clean electric guitar", "clean guitar", "electric guitar"),
    "overdriven guitar": (
        "overdriven guitar",
        "crunchy electric guitar",
        "overdriven electric guitar",
    ),
    "distorted guitar": ("distorted guitar", "heavy guitar", "distorted electric guitar"),
    "strings": ("strings", "a string section", "string ensemble"),
    "choir": ("choir", "voices", "a vocal ensemble"),
    "synth bass": ("synth bass", "bass synth", "analog bass"),
    "sawtooth lead": ("saw lead", "sawtooth synth lead", "lead synth"),
    "square lead": ("square lead", "square-wave synth", "chiptune-like lead"),
    "organ": ("organ", "Hammond organ", "drawbar organ"),
    "church organ": ("church organ", "pipe organ", "organ"),
    "warm pad": ("warm pad", "warm synth pad", "soft pad"),
    "polysynth": ("polysynth", "polyphonic synth", "synth chords"),
    "fiddle": ("fiddle", "folk fiddle", "fiddle"),
    "voice oohs": ("wordless voices", "vocal oohs", "soft voices"),
    "pizzicato strings": ("pizzicato strings", "plucked strings"),
    "french horn": ("french horn", "horn"),
    "brass section": ("brass section", "horns", "a brass section"),
}
_TEMPO_WORDS = (  # (upper bpm bound, words)
    (76, ("slow", "unhurried", "leisurely", "languid", "gentle")),
    (100, ("mid-tempo", "moderate", "relaxed", "easygoing", "steady")),
    (132, ("upbeat", "lively", "bouncy", "brisk", "up-tempo")),
    (999, ("fast", "energetic", "quick", "racing", "high-energy")),
)
TEMPO_WORDS: frozenset[str] = frozenset(w for _, ws in _TEMPO_WORDS for w in ws)
TEMPLATE_COUNT = 12


def tempo_words(bpm: float) -> tuple[str, ...]:
    for bound, words in _TEMPO_WORDS:
        if bpm < bound:
            return words
    return _TEMPO_WORDS[-1][1]


def style_words(style: str) -> tuple[str, ...]:
    return STYLE_WORDS.get(style, (style,))


def _article(word: str) -> str:
    w = word.lower()
    vowel = w[:1] in "aeiou" or w.startswith(("edm", "8", "r&b", "fm", "mp"))
    return "an" if vowel and not w.startswith(("one", "uni", "eu")) else "a"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _choice(rng: np.random.Generator, seq) -> str:
    return str(seq[int(rng.integers(len(seq)))])


def make_caption(attrs: dict[str, Any], rng: np.random.Generator) -> str:
    """One caption for ``attrs`` (keys: style, bpm, key, mode, instruments, mood)."""
    style = _choice(rng, style_words(attrs["style"]))
    bpm = round(attrs["bpm"])
    tword = _choice(rng, tempo_words(bpm))
    use_bpm = rng.random() < 0.7
    use_tword = not use_bpm or rng.random() < 0.35
    key = f"{attrs['key']} {attrs['mode']}" if attrs.get("key") else ""
    use_key = bool(key) and rng.random() < 0.5
    instr_names = [
        _choice(rng, INSTRUMENT_WORDS.get(i, (i,))) for i in attrs.get("instruments", [])
    ]
    k = len(instr_names)
    if k > 3 and rng.random() < 0.5:
        keep = sorted(rng.choice(k, size=3, replace=False))
        instr_names = [instr_names[i] for i in keep]
    use_instr = bool(instr_names) and rng.random() < 0.8
    mood = attrs.get("mood") or ""
    use_mood = bool(mood) and rng.random() < 0.6
    if use_mood and tword == mood:
        tword = _choice(rng, [w for w in tempo_words(bpm) if w != mood])
    noun = _choice(rng, NOUNS)
    instr = _join(instr_names) if use_instr else ""
    bpm_phrase = _choice(
        rng,
        (
            f"at {bpm} BPM",
            f"at {bpm} bpm",
            f"at a tempo of {bpm} BPM",
            f"around {bpm} beats per minute",
            f"at {bpm} beats per minute",
        ),
    )
    key_phrase = _choice(rng, (f"in {key}", f"in the key of {key}")) if use_key else ""
    adj = " ".join(w for w in (mood if use_mood else "", tword if use_tword else "") if w)
    tempo_phrase = bpm_phrase if use_bpm else ""
    with_phrase = (
        f"{_choice(rng, ('with', 'featuring', 'built on', 'driven by'))} {instr}" if instr else ""
    )
    t = int(rng.integers(TEMPLATE_COUNT))
    if t == 0:
        text = f"A {adj} {style} {noun} {key_phrase} {tempo_phrase} {with_phrase}."
    elif t == 1:
        text = f"{adj} {style} {noun} {tempo_phrase}, {with_phrase} {key_phrase}."
    elif t == 2:
        plural = len(instr_names) > 1 or instr.endswith("s")
        lead = f"{instr} {'play' if plural else 'plays'}" if instr else "Musicians play"
        text = f"{lead} a {adj} {style} {noun} {key_phrase} {tempo_phrase}."
    elif t == 3:
        text = f"{adj} {style} {tempo_phrase} {key_phrase}{', ' + instr if instr else ''}."
    elif t == 4:
        extra = f"{tword}, around {bpm} beats per minute" if use_bpm else tword
        noun = noun if noun != "instrumental" else "piece"
        moods = f"{mood} and " if use_mood else ""
        text = f"An instrumental {style} {noun} {with_phrase} {key_phrase}; {moods}{extra}."
    elif t == 5:  # tag list
        tags = [
            style,
            f"{bpm} bpm" if use_bpm else "",
            tword if use_tword else "",
            key if use_key else "",
            *(instr_names if use_instr else []),
            mood if use_mood else "",
        ]
        tags = [x for x in tags if x]
        head, rest = tags[0], [tags[i] for i in rng.permutation(len(tags) - 1) + 1]
        text = ", ".join([head, *rest])
    elif t == 6:
        verb = f"features {instr}" if instr else "is instrumental"
        text = f"This {adj} {style} recording {verb} {tempo_phrase} {key_phrase}."
    elif t == 7:
        tail = f": {instr}" if instr else ""
        text = f"A {adj} {style} {noun} {tempo_phrase} {key_phrase}{tail}."
    elif t == 8:
        tail = f", {with_phrase}" if instr else ""
        text = f"Music in the style of {style}, {adj} {tempo_phrase} {key_phrase}{tail}."
    elif t == 9:
        lead = f"{instr} in " if instr else ""
        text = f"{lead}a {adj} {style} arrangement {tempo_phrase} {key_phrase}."
    elif t == 10:
        text = f"{adj} {style} groove {tempo_phrase} {key_phrase} {with_phrase}."
    else:
        dose = _choice(rng, ("piece", "slice", "dose", "bit"))
        text = f"A {adj} {dose} of {style} {key_phrase} {tempo_phrase} {with_phrase}."
    return _tidy(text)


def _tidy(text: str) -> str:
    """Collapse spaces, fix punctuation and articles, capitalise the first letter."""
    for _ in range(2):
        text = re.sub(r"\s+", " ", text).strip()
        text = re.sub(r"\s+([,.;:])", r"\1", text)
        text = re.sub(r"([,;:])(?=\s*[,.;:])", "", text)
    text = re.sub(r"\b([Aa]n?) (\S+)", lambda m: _fix_article(m.group(1), m.group(2)), text)
    text = text.replace(" ,", ",")
    return text[:1].upper() + text[1:]


def _fix_article(article: str, word: str) -> str:
    if article.lower() not in ("a", "an"):
        return f"{article} {word}"
    new = _article(word)
    if article[0].isupper():
        new = new.capitalize()
    return f"{new} {word}"
