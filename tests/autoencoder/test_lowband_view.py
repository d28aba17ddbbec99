"""The magnitude view of the low band: what the diffusion model sees, and back."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from jen1.autoencoder.lowband import LowbandCodec
from jen1.autoencoder.lowband_view import (
    decimation,
    from_magnitudes,
    from_view,
    to_magnitudes,
    to_view,
)
from jen1.config import ConfigError
from tests.autoencoder.test_model import tiny_ae_config

HOP, SR = 960, 48000  # the shipped hybrid codec's hop: bins 25 Hz apart


def _chord(frames: int, hz=(210.0, 317.0, 553.0)) -> torch.Tensor:
    """(1, 2, frames * HOP): partials inside the 1.2 kHz band, none a whole number of cycles
    per hop (such a tone gives the same coefficients every frame), a wider right channel."""
    t = torch.arange(frames * HOP) / SR
    left = sum(0.2 * torch.sin(2 * math.pi * f * t) for f in hz)
    right = sum(0.1 * torch.sin(2 * math.pi * f * t + 0.7) for f in hz)
    return torch.stack([left, right])[None]


def test_magnitudes_peak_at_the_partials_bins():
    codec = LowbandCodec(HOP, 48, 16)
    mags = to_magnitudes(codec, codec.encode(_chord(40)))
    assert mags.shape == (1, 64, 40)
    mid = mags[0, :48, 5:-5].mean(dim=-1)  # bin k is centred on k * 25 Hz
    peaks = set(torch.topk(mid, 3).indices.tolist())
    assert peaks == {8, 13, 22}
    # frame to frame the magnitudes of a steady chord hardly move; the coefficients swing
    bins = [8, 13, 22]
    lin = mags[0, bins, 5:-5].exp()
    coeffs = codec.encode(_chord(40))[0, bins, 5:-5]
    assert (lin.diff(dim=-1).abs() / lin[:, 1:]).mean() < 0.05
    assert coeffs.diff(dim=-1).abs().mean() > 0.3 * coeffs.abs().mean()


def test_rebuilt_low_band_has_the_magnitudes_and_is_deterministic():
    codec = LowbandCodec(HOP, 48, 16)
    wav = _chord(50)
    mags = to_magnitudes(codec, codec.encode(wav))
    coeffs = from_magnitudes(codec, mags)
    assert coeffs.shape == (1, 64, 50)
    torch.testing.assert_close(coeffs, from_magnitudes(codec, mags))  # same seed, same phase
    again = to_magnitudes(codec, coeffs)
    inner = (slice(None), slice(None, 48), slice(3, -3))
    loud = mags[inner] > mags[inner].max() - 3  # the partials (within ~26 dB of the top)
    assert (again[inner][loud] - mags[inner][loud]).abs().mean() < 0.3
    # the energy of the rebuilt low band matches (its phase is Griffin-Lim's, not the input's)
    low, rebuilt = codec.decode(codec.encode(wav)), codec.decode(coeffs)
    ratio = (
        rebuilt[..., HOP * 3 : -HOP * 3].pow(2).sum() / low[..., HOP * 3 : -HOP * 3].pow(2).sum()
    )
    assert 0.8 < float(ratio) < 1.25


def test_view_changes_only_the_low_band_channels_and_mdct_is_identity():
    base = dataclasses.replace(tiny_ae_config("stft-hybrid"))  # hop 128, 3 + 2 low-band channels
    z = torch.randn(2, base.latent_dim, 30, generator=torch.Generator().manual_seed(0))
    assert to_view(base, z) is z and from_view(base, z) is z  # "mdct": as coded
    cfg = dataclasses.replace(base, lowband_view="magnitude")
    v = to_view(cfg, z)
    assert v.shape == z.shape
    torch.testing.assert_close(v[:, 5:], z[:, 5:])
    assert not torch.allclose(v[:, :5], z[:, :5])
    back = from_view(cfg, v)
    torch.testing.assert_close(back[:, 5:], z[:, 5:])
    assert torch.isfinite(back).all()


def test_config_refuses_a_view_it_cannot_serve():
    base = tiny_ae_config("stft-hybrid")
    with pytest.raises(ConfigError, match="lowband_view must be"):
        dataclasses.replace(base, lowband_view="phase")
    with pytest.raises(ConfigError, match="needs a low band"):
        dataclasses.replace(tiny_ae_config("stft-demod"), lowband_view="magnitude")
    with pytest.raises(ConfigError, match="needs a hop"):
        dataclasses.replace(base, latent_dim=128, lowband_mid=100, lowband_view="magnitude")
    assert (
        decimation(960, 48) == 10
        and decimation(128, 3) == 8
        and decimation(128, 40) == 1
        and decimation(128, 100) is None
    )


def test_pipeline_codec_and_latent_cache_use_the_view(tmp_path):
    """LatentCodec.encode gives the view (normalised), decode rebuilds the coefficients."""
    from jen1.autoencoder.model import AudioAutoencoder
    from jen1.inference.codec import LatentCodec

    cfg = dataclasses.replace(tiny_ae_config("stft-hybrid"), lowband_view="magnitude")
    torch.manual_seed(0)
    ae = AudioAutoencoder(cfg).eval()
    codec = LatentCodec(ae, torch.device("cpu"), bf16=False)
    wav = 0.3 * torch.randn(1, 2, 40 * cfg.hop, generator=torch.Generator().manual_seed(1))
    z = codec.encode(wav)
    raw = ae.encode(wav)
    torch.testing.assert_close(ae.normalizer.denormalize(z), to_view(cfg, raw))
    out = codec.decode(z, length=wav.shape[-1])
    assert out.shape == wav.shape and torch.isfinite(out).all()
    pieces = torch.cat(list(codec.decode_stream(z, length=wav.shape[-1])), dim=-1)
    torch.testing.assert_close(pieces, out)


def test_known_frames_stay_exact_and_the_rebuilt_phase_runs_on_from_them():
    """Continuation and inpainting hold their context: Griffin-Lim keeps those frames'
    spectrum, so just past the join the rebuilt low band is still in phase with the music
    (further on it drifts: a steady chord has many consistent phases)."""
    codec = LowbandCodec(HOP, 48, 16)
    wav = _chord(40)
    coeffs = codec.encode(wav)
    mags = to_magnitudes(codec, coeffs)
    mask = torch.zeros(1, 1, 40)
    mask[..., :20] = 1.0
    held = from_magnitudes(codec, mags, known=(coeffs, mask))
    torch.testing.assert_close(held[..., :20], coeffs[..., :20])  # the context as it was
    free = from_magnitudes(codec, mags)
    true = codec.decode(coeffs)[0, 0]
    join = slice(20 * HOP, 21 * HOP)  # the first frame the model made

    def corr(x):
        a, b = codec.decode(x)[0, 0][join], true[join]
        return float((a * b).sum() / (a.norm() * b.norm()))

    assert corr(held) > 0.6 and corr(held) > corr(free) + 0.2
    full = torch.ones(1, 1, 40)
    torch.testing.assert_close(from_magnitudes(codec, mags, known=(coeffs, full)), coeffs)


def test_pipeline_with_a_magnitude_view_holds_the_context_of_both_tasks(tmp_path, monkeypatch):
    import jen1.autoencoder.lowband_view as view
    from jen1.checkpoint import save_model_dir
    from jen1.config import load_config
    from jen1.models import build_autoencoder, build_unet
    from jen1.pipeline import Pipeline

    ae_cfg = dataclasses.replace(tiny_ae_config("stft-hybrid"), lowband_view="magnitude")
    cfg = dataclasses.replace(load_config("tiny"), autoencoder=ae_cfg)
    torch.manual_seed(0)
    state = {"autoencoder": build_autoencoder(ae_cfg).state_dict(),
             "unet": build_unet(cfg).state_dict()}  # fmt: skip
    save_model_dir(tmp_path / "m", cfg, state)
    pipe = Pipeline.from_pretrained(tmp_path / "m", bf16=False)
    seen = []
    real = view.from_magnitudes

    def spy(codec, logmag, *args, known=None, **kw):
        seen.append(None if known is None else float(known[1].mean()))
        return real(codec, logmag, *args, known=known, **kw)

    monkeypatch.setattr(view, "from_magnitudes", spy)
    wav = 0.3 * torch.randn(2, 48000, generator=torch.Generator().manual_seed(0))
    assert pipe.generate("a tune", 0.5, seed=0).shape == (1, 2, 24000)
    out = pipe.continue_(wav, "a tune", 0.5, seed=0)
    assert out.shape == (1, 2, 72000) and torch.isfinite(out).all()
    out = pipe.inpaint(wav, 0.4, 0.6, "a tune", seed=0)
    assert out.shape == (1, 2, 48000) and torch.isfinite(out).all()
    # text-to-music has nothing to hold; continuation and inpainting hold their context
    assert seen[0] is None and 0 < seen[1] < 1 and 0 < seen[2] < 1


def test_long_latents_are_rebuilt_in_windows_without_a_seam(monkeypatch):
    import jen1.autoencoder.lowband_view as view

    monkeypatch.setattr(view, "CHUNK_FRAMES", 20)
    monkeypatch.setattr(view, "MARGIN_FRAMES", 5)
    calls = []
    real = view.from_magnitudes

    def spy(codec, logmag, *args, **kw):
        calls.append(logmag.shape[-1])
        return real(codec, logmag, *args, **kw)

    monkeypatch.setattr(view, "from_magnitudes", spy)
    cfg = dataclasses.replace(
        tiny_ae_config("stft-hybrid"), latent_dim=96, stft_hop=HOP // 2, n_fft=2 * HOP,
        strides=(2,), lowband_mid=48, lowband_side=16, lowband_view="magnitude",
    )  # fmt: skip
    codec = LowbandCodec(HOP, 48, 16)
    z = torch.zeros(1, 96, 60)
    z[:, :64] = codec.encode(_chord(60))
    v = to_view(cfg, z)
    back = from_view(cfg, v)
    assert calls == [25, 30, 25]  # three windows with their margins
    err = (to_magnitudes(codec, back[:, :64]).exp() - v[:, :64].exp()).abs().mean(dim=(0, 1))
    seams = err[[19, 20, 39, 40]].mean()
    inner = torch.cat([err[5:15], err[25:35], err[45:55]]).mean()
    assert seams < 2.0 * inner  # a phase jump at a seam would splash energy into every bin


def test_magnitudes_beyond_full_scale_are_clipped_to_it():
    codec = LowbandCodec(HOP, 48, 16)
    loud = torch.full((1, 64, 20), 12.0)  # e^12: far above any bin of audio in [-1, 1]
    bound = torch.full((1, 64, 20), math.log(2 * HOP / 10 / 4 + 1e-3))
    torch.testing.assert_close(from_magnitudes(codec, loud), from_magnitudes(codec, bound))
