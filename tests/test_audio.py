import numpy as np
import pytest
import soundfile as sf

from jen1.audio import load_audio, save_audio, save_audio_stream, to_stereo
from jen1.errors import AudioError, Jen1Error


def test_roundtrip_24bit(tmp_path, sine_stereo):
    p = save_audio(tmp_path / "a" / "b.wav", sine_stereo)
    info = sf.info(str(p))
    assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "PCM_24")
    back = load_audio(p)
    assert back.dtype == np.float32 and back.shape == (2, 48000)
    assert np.max(np.abs(back - sine_stereo)) < 1e-5


def test_float_subtype(tmp_path, sine_stereo):
    p = save_audio(tmp_path / "f.wav", sine_stereo * 1.5, subtype="FLOAT")
    assert sf.info(str(p)).subtype == "FLOAT"
    assert np.allclose(load_audio(p), sine_stereo * 1.5, atol=1e-6)


def test_never_overwrites(tmp_path, sine_stereo):
    p = tmp_path / "x.wav"
    p.write_bytes(b"keep me")
    with pytest.raises(Jen1Error, match="already exists"):
        save_audio(p, sine_stereo)
    assert p.read_bytes() == b"keep me"
    save_audio(p, sine_stereo, overwrite=True)
    assert load_audio(p).shape == (2, 48000)
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_mono_44k_is_resampled_and_duplicated(tmp_path):
    t = np.arange(44100) / 44100
    mono = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(str(tmp_path / "m.wav"), mono, 44100, subtype="PCM_16")
    wav = load_audio(tmp_path / "m.wav")
    assert wav.shape == (2, 48000)
    assert np.array_equal(wav[0], wav[1])
    spec = np.abs(np.fft.rfft(wav[0]))
    assert abs(np.argmax(spec) - 1000) <= 1  # 1 Hz bins at 48000 samples


def test_51_downmix_bs775(tmp_path):
    n = 4800
    ch = np.zeros((n, 6), np.float32)
    ch[:, 2] = 0.5  # centre only
    ch[:, 3] = 0.9  # LFE dropped
    sf.write(str(tmp_path / "c.wav"), ch, 48000, subtype="FLOAT")
    wav = load_audio(tmp_path / "c.wav")
    assert wav.shape == (2, n)
    assert np.allclose(wav, 0.5 * 0.70710678, atol=1e-5)


def test_integer_pcm_scaled(tmp_path):
    data = np.full((100, 2), 16384, np.int16)
    sf.write(str(tmp_path / "i.wav"), data, 48000, subtype="PCM_16")
    assert np.allclose(load_audio(tmp_path / "i.wav"), 0.5, atol=1e-4)


def test_to_stereo_shapes():
    assert to_stereo(np.zeros((1, 10))).shape == (2, 10)
    assert to_stereo(np.zeros((8, 10))).shape == (2, 10)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(b"this is not audio at all" * 10),
        lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "),  # truncated header
    ],
    ids=["empty", "not-audio", "truncated"],
)
def test_bad_files_one_line_error_naming_file(tmp_path, make):
    p = tmp_path / "bad.wav"
    make(p)
    with pytest.raises(AudioError) as e:
        load_audio(p)
    msg = str(e.value)
    assert "bad.wav" in msg and "\n" not in msg


def test_zero_length_and_missing(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(str(p), np.zeros((0, 2), np.float32), 48000)
    with pytest.raises(AudioError, match="zero.wav"):
        load_audio(p)
    with pytest.raises(AudioError, match="nope.wav"):
        load_audio(tmp_path / "nope.wav")


def test_flac_and_ogg_load(tmp_path, sine_stereo):
    sf.write(str(tmp_path / "a.flac"), sine_stereo.T, 48000)
    sf.write(str(tmp_path / "a.ogg"), sine_stereo.T, 48000, format="OGG", subtype="VORBIS")
    assert load_audio(tmp_path / "a.flac").shape == (2, 48000)
    assert load_audio(tmp_path / "a.ogg").shape[0] == 2


def test_mp3_load(tmp_path, sine_stereo):
    try:
        sf.write(
            str(tmp_path / "a.mp3"), sine_stereo.T, 48000, format="MP3", subtype="MPEG_LAYER_III"
        )
    except Exception:
        pytest.skip("this libsndfile cannot write mp3")
    wav = load_audio(tmp_path / "a.mp3")
    assert wav.shape[0] == 2 and abs(wav.shape[1] - 48000) < 5000


def test_stream_writes_a_batch_piece_by_piece(tmp_path):
    rng = np.random.default_rng(0)
    pieces = [rng.uniform(-0.9, 0.9, (2, 2, n)).astype(np.float32) for n in (1000, 7, 4800)]
    paths = [tmp_path / "out" / "a.wav", tmp_path / "out" / "b.wav"]
    assert save_audio_stream(paths, iter(pieces), subtype="FLOAT") == 5807
    for k, p in enumerate(paths):
        back, sr = sf.read(str(p), always_2d=True, dtype="float32")
        assert sr == 48000
        assert np.array_equal(back.T, np.concatenate([q[k] for q in pieces], axis=-1))
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == ["a.wav", "b.wav"]


def test_stream_never_overwrites_and_leaves_nothing_on_error(tmp_path):
    keep = tmp_path / "keep.wav"
    keep.write_bytes(b"keep me")
    with pytest.raises(Jen1Error, match="already exists"):
        save_audio_stream([keep], iter([np.zeros((1, 2, 10))]))
    assert keep.read_bytes() == b"keep me"

    def broken():
        yield np.zeros((1, 2, 10))
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        save_audio_stream([tmp_path / "new.wav"], broken())
    with pytest.raises(AudioError, match="expected pieces of shape"):
        save_audio_stream([tmp_path / "new.wav"], iter([np.zeros((2, 10))]))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.wav"]
