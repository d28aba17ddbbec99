"""The latent cache: every clip encoded once, its latents, captions and normaliser kept."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jen1.config import TextConfig
from jen1.data.latents import LatentCache, build_latent_cache
from jen1.errors import Jen1Error
from jen1.models import load_autoencoder

SR = 48000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Four clips (3 train of different lengths, 1 val) with a blank line in the manifest."""
    d = tmp_path_factory.mktemp("corpus")
    (d / "audio").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    clips = [(0.5, "train"), (0.3, "train"), (0.4, "val"), (0.6, "train")]
    for i, (seconds, split) in enumerate(clips):
        path = f"audio/{i}.wav"
        sf.write(str(d / path), rng.uniform(-0.3, 0.3, (round(seconds * SR), 2)), SR)
        attrs = {"source": "test", "composition_id": f"c{i}"}
        rec = {"path": path, "seconds": seconds, "caption": f"clip {i}", "split": split}
        lines.append(json.dumps({**rec, "attributes": attrs}))
        if i == 1:
            lines.append("")
    (d / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def cache(corpus, tiny_model_dir):
    text = TextConfig(max_length=16)
    build_latent_cache(corpus, tiny_model_dir, text_cfg=text, batch_size=2, progress=False)
    return LatentCache(corpus / "latents")


def test_every_clip_is_encoded_with_its_caption_and_line(cache, corpus, tiny_model_dir):
    train = cache.load_split("train")
    assert train["captions"] == ["clip 0", "clip 1", "clip 3"]
    _, ae = load_autoencoder(tiny_model_dir)
    hop = ae.hop
    assert train["lengths"].tolist() == [-(-round(s * SR) // hop) for s in (0.5, 0.3, 0.6)]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        wav = torch.from_numpy(sf.read(str(corpus / "audio/1.wav"), dtype="float32")[0].T)
        z = ae.encode_chunked(wav[None]).float()[0]
    n = int(train["lengths"][1])
    assert torch.allclose(train["z"][1, :, :n].float(), z.half().float())  # raw latents, fp16
    assert train["text_mask"].dtype == torch.bool and train["text_emb"].shape[:2] == (3, 16)
    assert cache.load_split("val")["captions"] == ["clip 2"]
    index = json.loads((corpus / "latents" / "index.json").read_text())
    from safetensors.torch import load_file

    shard = load_file(str(corpus / "latents" / index["splits"]["train"]["shards"][0]))
    assert shard["clip"].tolist() == [0, 1, 4]  # line numbers in the manifest (a blank at 2)
    assert cache.text_encoder == "minilm"


def test_the_normaliser_is_fitted_on_train_and_the_dataset_normalises(cache):
    norm = cache.normalizer()
    train = cache.load_split("train")
    z = torch.cat([train["z"][i, :, : int(n)].float() for i, n in enumerate(train["lengths"])], -1)
    whitened = norm.normalize(z[None])[0]
    assert whitened.mean(-1).abs().max() < 0.05  # channel means removed
    ds = cache.dataset("train", num_frames=8, seed=1)
    item = ds[0]
    assert item["z"].shape == (z.shape[0], 8) and item["caption"] == "clip 0"
    assert torch.equal(ds[0]["z"], item["z"])  # crops drawn from (seed, epoch, index)
    n, frames = int(train["lengths"][1]), int(train["lengths"].max()) + 5
    padded = cache.dataset("train", num_frames=frames)[1]["z"]  # shorter clips: zero latents
    pad = norm.normalize(torch.zeros(1, z.shape[0], 1))[0]
    assert torch.allclose(padded[:, n:], pad.expand(-1, frames - n))
    assert torch.allclose(padded[:, :n], norm.normalize(train["z"][1:2, :, :n].float())[0])


def test_an_existing_cache_is_kept_and_a_missing_one_explained(corpus, tiny_model_dir, cache):
    with pytest.raises(Jen1Error, match="already holds a latent cache"):
        build_latent_cache(corpus, tiny_model_dir, progress=False)
    with pytest.raises(Jen1Error, match="is not a latent cache"):
        LatentCache(corpus / "audio")
    with pytest.raises(Jen1Error, match="has no 'test' split"):
        cache.load_split("test")


def test_cache_files_get_the_umask_mode(corpus, tiny_model_dir, tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        out = tmp_path / "cache"
        build_latent_cache(
            corpus, tiny_model_dir, out, text_cfg=TextConfig(max_length=16), progress=False
        )
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" and p.parent == out for p in files)  # the shards
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p  # safetensors alone gives 0o600


def test_a_magnitude_view_model_caches_what_the_unet_will_see(corpus, tmp_path):
    """An autoencoder whose config asks for the low band as magnitudes: the cache holds the
    view (the normaliser fitted on it), not the coefficients."""
    import dataclasses

    from jen1.autoencoder.lowband_view import to_view
    from jen1.autoencoder.model import AudioAutoencoder
    from jen1.checkpoint import save_model_dir
    from jen1.config import load_config
    from tests.autoencoder.test_model import tiny_ae_config

    hybrid = tiny_ae_config("stft-hybrid")  # as trained: the view is the cache's choice
    cfg = dataclasses.replace(load_config("tiny"), autoencoder=hybrid)
    torch.manual_seed(0)
    model = tmp_path / "ae"
    save_model_dir(model, cfg, {"autoencoder": AudioAutoencoder(hybrid).state_dict()})
    out = tmp_path / "latents"
    text = TextConfig(max_length=16)
    build_latent_cache(corpus, model, out, text_cfg=text, progress=False, lowband_view="magnitude")
    cache = LatentCache(out)
    assert cache.config.autoencoder.lowband_view == "magnitude"  # models trained on it inherit
    train = cache.load_split("train")
    ae_cfg = dataclasses.replace(hybrid, lowband_view="magnitude")
    _, ae = load_autoencoder(model)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        wav = torch.from_numpy(sf.read(str(corpus / "audio/0.wav"), dtype="float32")[0].T)
        z = ae.encode_chunked(wav[None]).float()
    n = int(train["lengths"][0])
    view = to_view(ae_cfg, z)[0]
    assert not torch.allclose(view[:5], z[0, :5])  # the low band's channels changed
    torch.testing.assert_close(train["z"][0, :, :n].float(), view.half().float())


def test_encode_refuses_a_view_the_autoencoder_cannot_serve(corpus, tiny_model_dir, tmp_path):
    from jen1.cli import main

    out = tmp_path / "latents"
    args = ["data", "encode", str(corpus), "--autoencoder", str(tiny_model_dir), "--out", str(out)]
    assert main([*args, "--lowband-view", "magnitude", "--no-progress"]) == 2
    assert not out.exists()  # refused before any work
