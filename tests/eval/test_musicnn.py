"""The musicnn port against the original TensorFlow model (fixture made once by
fixtures/make_musicnn_reference.py) and the TF checkpoint reader."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.eval.eval_signals import music_like

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("musicnn") is None, reason="pip install --no-deps musicnn"
)
FIXTURE = Path(__file__).with_name("fixtures") / "musicnn_reference.npz"
# Agreement measured when the fixture was made: tags 6e-6, penultimate 2e-5, mean_pool 2e-5
# (max abs). The tolerances leave room for BLAS differences, not for a wrong layer.
TAG_ATOL, FEAT_ATOL = 1e-4, 1e-3


@pytest.fixture(scope="module")
def model():
    from jen1.eval.musicnn import MusicnnMTT

    torch.set_num_threads(1)
    return MusicnnMTT.from_package()


def test_bundle_reader_reads_all_mtt_variables():
    from jen1.eval.musicnn import find_checkpoint
    from jen1.eval.tf_bundle import read_bundle

    w = read_bundle(str(find_checkpoint()) + "/")
    model_vars = {k: v for k, v in w.items() if "Adam" not in k and "power" not in k}
    assert len(model_vars) == 64  # + beta1_power, beta2_power and 84 Adam slots = 150 entries
    assert len(w) == 150
    assert sum(v.size for v in model_vars.values()) == 792_079
    assert w["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert w["dense/kernel"].shape == (1506, 200)
    assert w["dense/kernel"].dtype == np.float32
    assert np.isfinite(w["batch_normalization_9/moving_variance"]).all()


def test_bundle_reader_rejects_other_files(tmp_path):
    from jen1.errors import Jen1Error
    from jen1.eval.tf_bundle import read_bundle

    (tmp_path / "x.index").write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(Jen1Error, match="not a TensorFlow checkpoint"):
        read_bundle(tmp_path / "x")
    with pytest.raises(Jen1Error, match="no TensorFlow checkpoint index"):
        read_bundle(tmp_path / "missing")


def test_port_matches_tensorflow_extractor(model):
    """musicnn's own extractor() (float16 log, quiet clip so it does not overflow)."""
    ref = np.load(FIXTURE)
    out = model.embed(0.5 * music_like(6.0, 16000)[None], 16000, hop_seconds=1.0, float16_log=True)
    assert out["taggram"].shape == (1, 4, 50)
    np.testing.assert_allclose(out["taggram"][0], ref["x16_taggram"], atol=TAG_ATOL)
    np.testing.assert_allclose(out["penultimate"][0, 0], ref["x16_penultimate0"], atol=FEAT_ATOL)
    np.testing.assert_allclose(out["mean_pool"][0, 0], ref["x16_mean_pool0"], atol=FEAT_ATOL)


def test_port_matches_tensorflow_graph_float32_log(model):
    """The default preprocessing (float32 log) against the TF graph fed the same patches."""
    ref = np.load(FIXTURE)
    out = model.embed(music_like(6.0, 16000)[None], 16000, hop_seconds=1.0)
    np.testing.assert_allclose(out["taggram"][0], ref["x32_taggram"], atol=TAG_ATOL)
    np.testing.assert_allclose(out["penultimate"][0], ref["x32_penultimate"], atol=FEAT_ATOL)
    # and the two references really differ (the test would notice a swapped fixture)
    assert np.abs(ref["x32_taggram"][0] - ref["x16_taggram"][0]).max() > 10 * TAG_ATOL


def test_embed_48k_stereo_shapes_and_pooling(model):
    from jen1.eval.musicnn import MTT_LABELS

    x = music_like(6.0, 48000)
    wav = np.stack([np.stack([x, x]), np.stack([0.5 * x, 0.5 * x])])  # (2, 2, L)
    out = model.embed(torch.from_numpy(wav))
    assert out["penultimate"].shape == (2, 2, 200)  # 6 s -> two 3 s patches
    assert out["embedding"].shape == (2, 200) and out["tags"].shape == (2, 50)
    np.testing.assert_allclose(out["tags"], out["taggram"].mean(axis=1), rtol=1e-6)
    assert out["tag_names"] == list(MTT_LABELS) and len(MTT_LABELS) == 50
    assert ((out["taggram"] >= 0) & (out["taggram"] <= 1)).all()
    assert not np.allclose(out["tags"][0], out["tags"][1])  # level matters to the log-mel


def test_short_clip_is_repeat_padded(model):
    out = model.embed(
        np.zeros((1, 2, 24000), np.float32)
        + 1e-3 * np.sin(np.arange(24000) / 7.0, dtype=np.float32)
    )
    assert out["penultimate"].shape == (1, 1, 200)
    assert np.isfinite(out["penultimate"]).all()


def test_mel_filterbank_is_slaney():
    from jen1.eval.musicnn import mel_filterbank

    fb = mel_filterbank()
    assert fb.shape == (96, 257)
    # values of librosa.filters.mel(sr=16000, n_fft=512, n_mels=96) (librosa 0.11; the whole
    # matrix agreed to 1.4e-9 when checked)
    assert fb.sum() == pytest.approx(3.071914, rel=1e-6)
    assert fb[0].sum() == pytest.approx(0.031999223, rel=1e-6)
    assert int(fb[50].argmax()) == 59 and fb[50].max() == pytest.approx(0.013077741, rel=1e-6)
    assert (fb >= 0).all()


def test_missing_package_names_the_install(monkeypatch):
    from jen1.errors import Jen1Error
    from jen1.eval import musicnn

    monkeypatch.setattr(musicnn.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(Jen1Error, match="pip install --no-deps musicnn"):
        musicnn.MusicnnMTT.from_package()
