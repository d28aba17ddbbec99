"""jen1.diffusion.lora: adapters on the U-Net's weights, exact at zero, trained alone."""

import copy

import pytest
import torch

from jen1.conditioning.conditions import Conditions
from jen1.config import load_config
from jen1.diffusion.lora import (
    DEFAULT_TARGETS,
    LoRASpec,
    add_adapters,
    adapter_parameters,
    merge,
    remove_adapters,
    target_layers,
)
from jen1.errors import Jen1Error
from jen1.models import build_unet


@pytest.fixture
def unet():
    """The tiny U-Net with every weight moved off its (partly zero) initial value."""
    torch.manual_seed(0)
    net = build_unet(load_config("tiny")).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def _inputs(net, frames: int = 12):
    torch.manual_seed(1)
    c = net.latent_dim
    x = torch.randn(2, 2 * c + 1, frames)
    cond = Conditions(
        torch.randn(2, 3, net.text_dim),
        torch.ones(2, 3, dtype=torch.bool),
        torch.zeros(2, c, frames),
        torch.zeros(2, 1, frames),
    )
    return x, torch.tensor([0.3, 0.8]), cond


def _randomise_b(adapters):
    with torch.no_grad():
        for d in adapters.layers.values():
            d.lora_B.normal_(0, 0.05)


@pytest.mark.parametrize("causal", [False, True])
def test_a_new_adapter_leaves_the_output_exactly_unchanged(unet, causal):
    x, t, cond = _inputs(unet)
    with torch.no_grad():
        ref = unet(x, t, cond, causal=causal)
        add_adapters(unet, LoRASpec(4))
        out = unet(x, t, cond, causal=causal)
    assert torch.equal(out, ref)  # B = 0: W + 0 is W, laid out as W (same kernels)


def test_bf16_autocast_zero_adapter_matches_too(unet):
    x, t, cond = _inputs(unet)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = unet(x, t, cond)
        add_adapters(unet, LoRASpec(4))
        out = unet(x, t, cond)
    assert torch.equal(out, ref)


def test_a_trained_adapter_changes_the_output_and_merges_to_the_same(unet):
    x, t, cond = _inputs(unet)
    base = copy.deepcopy(unet)
    spec = LoRASpec(4, alpha=8.0)
    adapters = add_adapters(unet, spec)
    _randomise_b(adapters)
    with torch.no_grad():
        ref = base(x, t, cond)
        adapted = unet(x, t, cond)
        merge(base, adapters.state(), spec)  # the exported factors into a plain U-Net
        merged = base(x, t, cond)
    assert (adapted - ref).abs().max() > 1e-3
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-5)
    remove_adapters(unet, merge=True)  # parametrisation off, the update kept
    assert adapter_parameters(unet) == 0
    with torch.no_grad():
        torch.testing.assert_close(unet(x, t, cond), adapted, rtol=1e-5, atol=1e-5)


def test_merging_at_scale_zero_is_exact_and_the_scale_is_linear(unet):
    x, t, cond = _inputs(unet)
    spec = LoRASpec(2)
    adapted = copy.deepcopy(unet)
    adapters = add_adapters(adapted, spec)
    _randomise_b(adapters)
    state = adapters.state()
    nets = {s: copy.deepcopy(unet) for s in (0.0, 0.5)}
    with torch.no_grad():
        ref = unet(x, t, cond)
        for s, net in nets.items():
            merge(net, state, spec, scale=s)
        assert torch.equal(nets[0.0](x, t, cond), ref)
    name = next(iter(target_layers(unet, spec.targets)))
    w0 = dict(unet.named_parameters())[f"{name}.weight"]
    w_half = dict(nets[0.5].named_parameters())[f"{name}.weight"]
    delta = state[f"{name}.lora_B"] @ state[f"{name}.lora_A"]  # (C_out, fan_in)
    got = (w_half - w0).transpose(1, 2).flatten(1) if w0.dim() == 3 else w_half - w0
    torch.testing.assert_close(got, 0.5 * spec.scaling * delta, rtol=1e-4, atol=1e-6)


def test_only_adapter_factors_get_gradients(unet):
    x, t, cond = _inputs(unet)
    adapters = add_adapters(unet, LoRASpec(4))
    _randomise_b(adapters)  # with B = 0 the gradient of A is exactly zero
    unet.train()
    unet(x, t, cond).square().mean().backward()
    with_grad = {n for n, p in unet.named_parameters() if p.grad is not None}
    factors = {n for n, p in unet.named_parameters() if p.requires_grad}
    assert with_grad == factors and factors
    assert all(n.endswith(("lora_A", "lora_B")) for n in factors)
    assert all(p.grad.abs().sum() > 0 for n, p in unet.named_parameters() if n in factors)
    assert sum(p.numel() for p in adapters.parameters()) == adapter_parameters(unet)


def test_default_targets_are_attention_feed_forward_convs_and_skips(unet):
    layers = target_layers(unet, DEFAULT_TARGETS)
    kinds = {t: [n for n in layers if n == t or n.endswith("." + t)] for t in DEFAULT_TARGETS}
    kinds["conv1"] = [n for n in layers if n.endswith(".conv1.conv")]
    kinds["conv2"] = [n for n in layers if n.endswith(".conv2.conv")]
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    assert not any(n.startswith(("time_embed", "text_", "conv_in", "conv_out")) for n in layers)
    att = sum(1 for n in unet.named_modules() if n[0].endswith("self_attn"))
    assert len(kinds["self_attn.qkv"]) == att


@pytest.mark.parametrize("rank", [0, -3, 2.5, True, "8"])
def test_bad_ranks_are_refused(rank):
    with pytest.raises(Jen1Error, match="LoRA rank must be a whole number of at least 1"):
        LoRASpec(rank)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_alphas_are_refused(alpha):
    with pytest.raises(Jen1Error, match="alpha must be a positive number"):
        LoRASpec(4, alpha)


def test_a_target_matching_nothing_is_refused(unet):
    with pytest.raises(Jen1Error, match="'attn.wq' matches no linear or conv layer"):
        add_adapters(unet, LoRASpec(4, targets=("self_attn.qkv", "attn.wq")))
    with pytest.raises(Jen1Error, match="not a linear or conv layer"):
        target_layers(unet, ("ff",))  # a block, not a layer
    add_adapters(unet, LoRASpec(4, targets=("qkv",)))
    with pytest.raises(Jen1Error, match="already has an adapter"):
        add_adapters(unet, LoRASpec(4, targets=("qkv",)))


def test_the_paper_configuration_builds_with_adapters():
    """No weights are allocated (meta device): the shapes and layer names are what is tested."""
    cfg = load_config("paper")
    with torch.device("meta"):
        unet = build_unet(cfg)
        adapters = add_adapters(unet, LoRASpec(16))
    total = sum(p.numel() for n, p in unet.named_parameters() if "lora_" not in n)
    lora = adapter_parameters(unet)
    assert total > 700e6  # the ~728M U-Net
    assert 0 < lora < 0.02 * total
    assert len(adapters.layers) == len(target_layers(unet, DEFAULT_TARGETS))
    assert all(not p.requires_grad for n, p in unet.named_parameters() if "lora_" not in n)
