"""Musical controls: the prompt parser's table, explicit values, validation, merge, describe."""

from __future__ import annotations

import numpy as np
import pytest

from jen1.conditioning.controls import (
    ControlError,
    Controls,
    chord_pitch_classes,
    merge,
    parse_chords,
    parse_key,
    parse_meter,
    parse_prompt,
)

# (prompt, expected fields); fields not named must be None.
PARSER_TABLE = [
    # tempo
    ("a rock song at 120 BPM", {"bpm": 120}),
    ("120bpm techno", {"bpm": 120}),
    ("a 120-bpm house groove", {"bpm": 120}),
    ("dub at a tempo of 70", {"bpm": 70}),
    ("tempo: 140, drum and bass", {"bpm": 140}),
    ("folk at 96 beats per minute", {"bpm": 96}),
    ("around 124 beats a minute", {"bpm": 124}),
    ("BPM 128 trance", {"bpm": 128}),
    ("somewhere between 100-110 bpm", {"bpm": 105}),
    ("a march, ♩ = 112", {"bpm": 112}),
    ("lo-fi at 82.5 bpm", {"bpm": 82.5}),
    # key
    ("a ballad in D minor", {"key": "D", "mode": "minor"}),
    ("F# major pop", {"key": "F#", "mode": "major"}),
    ("blues in Dm", {"key": "D", "mode": "minor"}),
    ("a horn section in Bb", {"key": "A#"}),
    ("in the key of Eb major", {"key": "D#", "mode": "major"}),
    ("a nocturne in C sharp minor", {"key": "C#", "mode": "minor"}),
    ("a B-flat major fanfare", {"key": "A#", "mode": "major"}),
    ("key: Am, slow", {"key": "A", "mode": "minor"}),
    ("Key of E, bluegrass", {"key": "E"}),
    ("a lament in g minor", {"key": "G", "mode": "minor"}),
    ("a sad minor-key piano piece", {"mode": "minor"}),
    ("Symphony No. 5 in C minor", {"key": "C", "mode": "minor"}),
    # meter
    ("a folk dance in 3/4", {"meter": (3, 4)}),
    ("a jig in 6/8 time", {"meter": (6, 8)}),
    ("a 7/8 groove", {"meter": (7, 8)}),
    ("time signature 5/4, cool jazz", {"meter": (5, 4)}),
    ("a piano piece in waltz time", {"meter": (3, 4)}),
    ("a Viennese waltz", {"meter": (3, 4)}),
    ("a march in common time", {"meter": (4, 4)}),
    ("the 4/4 kick and a 128bpm bassline", {"bpm": 128, "meter": (4, 4)}),
    ("prog rock in 11/8", {"meter": (11, 8)}),
    # chords
    ("pop with chords Am F C G", {"chords": ("Am", "F", "C", "G")}),
    ("chord progression: Am - F - C - G", {"chords": ("Am", "F", "C", "G")}),
    ("jazz over the changes Dm7, G7 and Cmaj7", {"chords": ("Dm7", "G7", "Cmaj7")}),
    ("a loop | Am F | C G |", {"chords": (("Am", "F"), ("C", "G"))}),
    ("chords Am-F-C-G, upbeat", {"chords": ("Am", "F", "C", "G")}),
    # everything at once, and the corpus captions' own wordings
    (
        "An upbeat waltz in 3/4 at 150 BPM in the key of A# major, chords C G Am F",
        {
            "bpm": 150,
            "key": "A#",
            "mode": "major",
            "meter": (3, 4),
            "chords": ("C", "G", "Am", "F"),
        },
    ),
    (
        "Rock, 124 bpm, driving, D minor, distorted guitar",
        {"bpm": 124, "key": "D", "mode": "minor"},
    ),
    (
        "This early music polyphony recording features vocal oohs at 124 BPM in the key of D minor",
        {"bpm": 124, "key": "D", "mode": "minor"},
    ),
    ("An old-fashioned 3/4 waltz around 96 beats per minute", {"bpm": 96, "meter": (3, 4)}),
    # must not misread
    ("Summer of 69 style rock", {}),
    ("a 909 drum machine beat", {}),
    ("2 guitars and a bass", {}),
    ("the 80s synth-pop sound", {}),
    ("Opus 3 for strings", {}),
    ("a 4-minute song", {}),
    ("key lime pie jazz", {}),
    ("track 12 of the album", {}),
    ("A major hit from the charts", {}),
    ("a minor change in the mix", {}),
    ("with big chords A lot of reverb", {}),
    ("three quarters: 3/4 of the way through it builds", {}),
    ("24/7 party music at 50/50 mix", {}),
    ("an 808 kick, 1/2 speed", {}),
    ("Mambo No. 5 feel, 10 seconds long", {}),
    ("tempo rising 20% in the chorus", {}),
    ("I am in love with this", {}),
]


def _bars(spec):
    """("Am", "F") -> (("Am",), ("F",)); bars given as tuples stay as they are."""
    return tuple((c,) if isinstance(c, str) else c for c in spec)


@pytest.mark.parametrize("prompt,want", PARSER_TABLE, ids=[p for p, _ in PARSER_TABLE])
def test_parser_table(prompt, want):
    got = parse_prompt(prompt)
    want = dict(want)
    if "chords" in want:
        want["chords"] = _bars(want["chords"])
    assert got == Controls(**want), f"{prompt!r}: {got.describe()}"


def test_table_is_large_and_has_must_not_misread_rows():
    assert len(PARSER_TABLE) >= 40
    assert sum(not want for _, want in PARSER_TABLE) >= 15


def test_explicit_values():
    c = Controls.from_user(bpm="120", key="D minor", meter="3/4", chords="Am F | C G")
    assert c == Controls(120.0, "D", "minor", (3, 4), (("Am", "F"), ("C", "G")))
    assert Controls.from_user(key="Dm").mode == "minor"
    assert parse_key("Bb") == ("A#", None)
    assert parse_key("F# major") == ("F#", "major")
    assert parse_meter("6/8") == (6, 8)
    assert parse_chords("Bbmin7 G/B N.C. C-7") == (("A#m7",), ("G/B",), ("N",), ("Cm7",))
    assert chord_pitch_classes("Am") == (9, 0, 4)
    assert chord_pitch_classes("G/B") == (11, 7, 2)
    assert Controls.from_user(bpm="", key=" ").empty


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"bpm": 0}, "bpm"),
        ({"bpm": 1000}, "bpm"),
        ({"bpm": "fast"}, "bpm"),
        ({"bpm": float("nan")}, "bpm"),
        ({"key": "H major"}, "key"),
        ({"key": "D dorian"}, "key"),
        ({"chords": "Xyz"}, "chords"),
        ({"chords": "Am F Qm"}, "chords"),
        ({"meter": "0/4"}, "meter"),
        ({"meter": "3/5"}, "meter"),
        ({"meter": "three"}, "meter"),
        ({"key": "D minor", "mode": "major"}, "mode"),
        ({"mode": "lydian"}, "mode"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(kwargs, field):
    with pytest.raises(ControlError) as e:
        Controls.from_user(**kwargs)
    msg = str(e.value)
    assert e.value.field == field and msg.startswith(field + " ") and "\n" not in msg
    assert "accepted:" in msg


def test_canonical_constructor_checks_its_fields():
    with pytest.raises(ControlError, match="^key 'Bb'"):
        Controls(key="Bb")  # sharps only: users' spellings go through from_user
    with pytest.raises(ControlError, match="^chords 'Bbm'"):
        Controls(chords=(("Bbm",),))
    with pytest.raises(ControlError, match="^bpm"):
        Controls(bpm=20)


def test_prompt_out_of_range_tempo():
    with pytest.raises(ControlError, match="^bpm '1000 BPM' .from the prompt. is out of range"):
        parse_prompt("gabber at 1000 BPM")
    assert parse_prompt("gabber at 1000 BPM", strict=False).bpm is None


def test_merge_explicit_wins_and_key_travels_with_mode():
    parsed = parse_prompt("a waltz in D minor at 90 BPM, chords Dm A7")
    explicit = Controls.from_user(bpm=100, key="F")
    m = merge(explicit, parsed)
    assert m.bpm == 100 and m.meter == (3, 4) and m.chords == (("Dm",), ("A7",))
    assert (m.key, m.mode) == ("F", None)  # the parsed "minor" is not attached to F
    assert merge(None, parsed) == parsed
    assert merge(explicit, None) == explicit


def test_describe_and_dict_round_trip():
    c = Controls.from_user(bpm=120, key="Bb major", meter="6/8", chords="Am F | C G")
    assert c.describe() == "tempo 120 BPM, key A# major, meter 6/8, chords Am F | C G"
    assert Controls().describe() == "no musical controls"
    assert Controls.from_dict(c.to_dict()) == c
    assert Controls.from_dict({"key": "A#"}) == Controls(key="A#")
    with pytest.raises(Exception, match="unknown control 'tempo'"):
        Controls.from_dict({"tempo": 120})


def test_parser_reads_the_corpus_captions():
    """Every synthetic-corpus caption that says a BPM, key or waltz is parsed back to its truth."""
    from jen1.synth.captions import make_caption

    rng = np.random.default_rng(0)
    keys = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    styles = ["rock", "waltz", "jazz swing", "piano ballad", "electronic dance", "folk tune"]
    checked = 0
    for i in range(300):
        attrs = {
            "style": styles[i % len(styles)],
            "bpm": int(rng.integers(60, 180)),
            "key": keys[i % 12],
            "mode": ("major", "minor")[i % 2],
            "instruments": ["piano", "drums", "808 drum machine", "strings"][: 1 + i % 4],
            "mood": "",
        }
        caption = make_caption(attrs, rng)
        got = parse_prompt(caption)
        if str(attrs["bpm"]) in caption:
            assert got.bpm == attrs["bpm"], caption
            checked += 1
        if f"{attrs['key']} {attrs['mode']}" in caption:
            assert (got.key, got.mode) == (attrs["key"], attrs["mode"]), caption
        if "waltz" in caption:
            assert got.meter == (3, 4), caption
        if "bpm" not in caption.lower() and "minute" not in caption:
            assert got.bpm is None, caption
    assert checked > 150
