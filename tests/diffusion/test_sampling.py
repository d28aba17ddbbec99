"""sample_latents: known frames, CFG batching, seeding; a tiny model memorises one latent."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from jen1.conditioning.conditions import Conditions
from jen1.config import load_config
from jen1.diffusion.sampling import sample_latents
from jen1.diffusion.layers import CrossAttention
from jen1.diffusion.train_step import diffusion_train_step
from jen1.diffusion.unet import UNet1D
from jen1.models import build_unet
from jen1.errors import Jen1Error
from jen1.request import SamplingParams


@pytest.fixture
def one_thread():
    """Tiny tensors run faster on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _random_unet(cfg, seed=0):
    torch.manual_seed(seed)
    unet = build_unet(cfg).eval()
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return unet


def _inputs(cfg, batch=2, frames=19):
    g = torch.Generator().manual_seed(0)
    c = cfg.autoencoder.latent_dim
    known = torch.randn(batch, c, frames, generator=g)
    mask = torch.zeros(batch, 1, frames)
    mask[:, :, :7] = 1
    emb = torch.randn(batch, 4, cfg.text.dim, generator=g)
    return known, mask, emb, torch.ones(batch, 4, dtype=torch.bool)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m", "heun"])
def test_known_frames_kept_seeded_and_progress(tiny_config, sampler):
    cfg = tiny_config
    unet = _random_unet(cfg)
    known, mask, emb, tmask = _inputs(cfg)
    calls = []
    kwargs = dict(
        known=known,
        mask=mask,
        text_emb=emb,
        text_mask=tmask,
        params=SamplingParams(steps=3, sampler=sampler),
    )
    a = sample_latents(
        unet,
        cfg.diffusion,
        **kwargs,
        generator=torch.Generator().manual_seed(1),
        callback=lambda i, n: calls.append((i, n)),
    )
    b = sample_latents(unet, cfg.diffusion, **kwargs, generator=torch.Generator().manual_seed(1))
    c = sample_latents(unet, cfg.diffusion, **kwargs, generator=torch.Generator().manual_seed(2))
    assert a.shape == known.shape and torch.isfinite(a).all()
    assert torch.equal(a[..., :7], known[..., :7])
    assert torch.equal(a, b) and not torch.equal(a[..., 7:], c[..., 7:])
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_cfg_batches_branches_and_scale_one_skips_uncond(tiny_config):
    cfg = tiny_config
    unet = _random_unet(cfg)
    batches = []
    unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    known, mask, emb, tmask = _inputs(cfg)
    common = dict(known=known, mask=mask, text_emb=emb, text_mask=tmask)
    sample_latents(unet, cfg.diffusion, **common, params=SamplingParams(2, 3.0, "ddim"))
    assert batches == [4, 4]
    batches.clear()
    sample_latents(unet, cfg.diffusion, **common, params=SamplingParams(2, 1.0, "ddim"))
    assert batches == [2, 2]
    batches.clear()
    neg = torch.randn(1, 6, cfg.text.dim)
    out = sample_latents(
        unet,
        cfg.diffusion,
        **common,
        params=SamplingParams(steps=2, sampler="ddim"),
        neg_text_emb=neg,
        neg_text_mask=torch.ones(1, 6, dtype=torch.bool),
        causal=True,
    )
    assert batches == [4, 4] and torch.isfinite(out).all()


class _NotAUNet1D(torch.nn.Module):
    """Wraps a UNet1D so that sampling treats it as any network (no text context)."""

    def __init__(self, unet: UNet1D) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, *args, **kwargs):
        return self.unet(*args, **kwargs)


@pytest.mark.parametrize("bf16", [False, True])
def test_text_keys_computed_once_per_run_and_outputs_unchanged(tiny_config, bf16):
    """Sampling projects the text and makes each cross-attention layer's keys once, not per
    step; the result is bit-identical to running the network afresh at every step (45 tokens,
    some masked: in bf16 the keys are padded to 64 and the mask is a cached bias)."""
    cfg = tiny_config
    unet = _random_unet(cfg)
    known, mask, _, _ = _inputs(cfg)
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(2, 45, cfg.text.dim, generator=g)
    tmask = torch.rand(2, 45, generator=g) > 0.3
    tmask[:, 0] = True
    kv_calls = []
    layers = [m for m in unet.modules() if isinstance(m, CrossAttention)]
    for layer in layers:
        layer.kv.register_forward_hook(lambda *_: kv_calls.append(1))
    kwargs = dict(
        known=known,
        mask=mask,
        text_emb=emb,
        text_mask=tmask,
        params=SamplingParams(steps=3, sampler="ddim"),
    )
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        cached = sample_latents(
            unet, cfg.diffusion, **kwargs, generator=torch.Generator().manual_seed(1)
        )
        once = len(kv_calls)
        kv_calls.clear()
        plain = sample_latents(
            _NotAUNet1D(unet), cfg.diffusion, **kwargs, generator=torch.Generator().manual_seed(1)
        )
    assert len(layers) > 0 and once == len(layers) and len(kv_calls) == 3 * len(layers)
    assert torch.equal(cached, plain)


def test_text_context_of_another_batch_is_refused(tiny_config):
    cfg = tiny_config
    unet = _random_unet(cfg)
    known, mask, emb, tmask = _inputs(cfg)
    cond = Conditions(emb, tmask, known, mask)
    text = unet.text_context(cond.select(torch.tensor([0])))
    x = torch.randn(2, 2 * cfg.autoencoder.latent_dim + 1, known.shape[-1])
    with pytest.raises(Jen1Error, match="text context is for 1 samples"):
        unet(x, torch.rand(2), cond, text=text)


def test_bad_arguments_raise(tiny_config):
    cfg = tiny_config
    unet = _random_unet(cfg)
    known, mask, emb, tmask = _inputs(cfg)
    with pytest.raises(Jen1Error, match="sampler 'euler2': use one of ddim, dpmpp_2m, euler, heun"):
        SamplingParams(sampler="euler2")
    with pytest.raises(Jen1Error, match="together"):
        sample_latents(
            unet,
            cfg.diffusion,
            known=known,
            mask=mask,
            text_emb=emb,
            text_mask=tmask,
            neg_text_emb=emb,
        )


# --- rectified flow: every sampler with guidance, a negative prompt, known frames, SDEdit -------


def _flow(cfg):
    return dataclasses.replace(
        cfg.diffusion, objective="flow", schedule="flow", train_t="logit_normal"
    )


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m", "euler", "heun"])
def test_flow_known_frames_kept_with_guidance_and_negative_prompt(tiny_config, sampler):
    cfg = tiny_config
    unet = _random_unet(cfg)
    known, mask, emb, tmask = _inputs(cfg)
    calls, ts = [], []
    unet.register_forward_pre_hook(lambda m, args: ts.append(float(args[1][0])))
    kwargs = dict(
        known=known,
        mask=mask,
        text_emb=emb,
        text_mask=tmask,
        neg_text_emb=torch.randn(1, 5, cfg.text.dim),
        neg_text_mask=torch.ones(1, 5, dtype=torch.bool),
        params=SamplingParams(steps=4, cfg_scale=3.0, sampler=sampler),
    )
    dcfg = _flow(cfg)
    a = sample_latents(
        unet,
        dcfg,
        **kwargs,
        generator=torch.Generator().manual_seed(1),
        callback=lambda i, n: calls.append((i, n)),
    )
    b = sample_latents(unet, dcfg, **kwargs, generator=torch.Generator().manual_seed(1))
    c = sample_latents(unet, dcfg, **kwargs, generator=torch.Generator().manual_seed(2))
    assert a.shape == known.shape and torch.isfinite(a).all()
    assert torch.equal(a[..., :7], known[..., :7])
    assert torch.equal(a, b) and not torch.equal(a[..., 7:], c[..., 7:])
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)] and ts[0] == 1.0
    # the v/cosine model would see other inputs: the objective really changed the path
    v = sample_latents(unet, cfg.diffusion, **kwargs, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a[..., 7:], v[..., 7:], atol=1e-3)


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "euler", "heun"])
def test_flow_sdedit_starts_from_known_noised_on_the_straight_line(tiny_config, sampler):
    cfg = tiny_config
    unet = _random_unet(cfg)
    known, _, emb, tmask = _inputs(cfg)
    first = []
    unet.register_forward_pre_hook(
        lambda m, args: first.append((args[0][:, : known.shape[1]].clone(), float(args[1][0])))
    )
    out = sample_latents(
        unet,
        _flow(cfg),
        known=known,
        mask=torch.zeros(2, 1, known.shape[-1]),
        text_emb=emb,
        text_mask=tmask,
        params=SamplingParams(steps=3, cfg_scale=1.0, sampler=sampler),
        generator=torch.Generator().manual_seed(5),
        t_start=0.3,
    )
    noise = torch.randn(known.shape, generator=torch.Generator().manual_seed(5))
    x_start, t0 = first[0]
    assert t0 == pytest.approx(0.3) and torch.allclose(x_start, 0.7 * known + 0.3 * noise)
    assert torch.isfinite(out).all()


def _train(unet, z, emb, tmask, dcfg, steps, batch=32, lr=3e-3):
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(unet.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        expand = lambda x: x.expand(batch, *x.shape[1:])  # noqa: E731
        out = diffusion_train_step(unet, expand(z), expand(emb), expand(tmask), dcfg, gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    return losses


def _memorising_setup():
    cfg = load_config("tiny")
    ucfg = dataclasses.replace(
        cfg.unet, channels=(64, 128), time_dim=64, cross_attn_dim=64, head_dim=32
    )
    channels, frames = 4, 16
    torch.manual_seed(0)
    unet = UNet1D(ucfg, channels, cfg.text.dim)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, channels, frames, generator=g)
    emb = torch.randn(1, 4, cfg.text.dim, generator=g)
    return cfg, unet, z, emb, torch.ones(1, 4, dtype=torch.bool)


def test_loss_falls_on_one_batch(one_thread):
    cfg, unet, z, emb, tmask = _memorising_setup()
    losses = _train(unet, z, emb, tmask, cfg.diffusion, steps=40)
    assert sum(losses[-10:]) < 0.8 * sum(losses[:10])


_MEMORISED: dict[str, tuple] = {}  # one trained network per objective, shared by the samplers


@pytest.mark.slow
@pytest.mark.parametrize(
    "objective,sampler", [("v", None), ("flow", "dpmpp_2m"), ("flow", "heun"), ("flow", "euler")]
)
def test_memorised_latent_is_generated_inpainted_and_continued(one_thread, objective, sampler):
    if objective not in _MEMORISED:
        cfg, unet, z, emb, tmask = _memorising_setup()
        if objective == "flow":
            cfg = dataclasses.replace(cfg, diffusion=_flow(cfg))
        _train(unet, z, emb, tmask, cfg.diffusion, steps=300)
        _MEMORISED[objective] = (cfg, unet.eval(), z, emb, tmask)
    cfg, unet, z, emb, tmask = _MEMORISED[objective]
    frames = z.shape[-1]

    def rel(x, sl):  # worst relative error over the batch on frames sl
        return ((x - z)[..., sl].norm(dim=(1, 2)) / z[..., sl].norm()).max().item()

    common = dict(
        text_emb=emb.expand(2, -1, -1),
        text_mask=tmask.expand(2, -1),
        params=SamplingParams(steps=25, cfg_scale=1.0, sampler=sampler),
        generator=torch.Generator().manual_seed(1),
    )

    gen = sample_latents(
        unet,
        cfg.diffusion,
        known=torch.zeros(2, 4, frames),
        mask=torch.zeros(2, 1, frames),
        **common,
    )
    assert rel(gen, slice(None)) < 0.35  # a fresh N(0, 1) draw is at ~1.4

    gap = slice(frames // 3, 2 * frames // 3)
    mask = torch.ones(2, 1, frames)
    mask[..., gap] = 0
    inpainted = sample_latents(
        unet, cfg.diffusion, known=z.expand(2, -1, -1) * mask, mask=mask, **common
    )
    assert rel(inpainted, gap) < 0.3

    tail = slice(frames // 2, None)
    mask = torch.ones(2, 1, frames)
    mask[..., tail] = 0
    continued = sample_latents(
        unet, cfg.diffusion, known=z.expand(2, -1, -1) * mask, mask=mask, causal=True, **common
    )
    assert rel(continued, tail) < 0.35
