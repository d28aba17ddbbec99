import pytest
import torch

from jen1.conditioning.text import TextEncoder, load_text_encoder
from jen1.config import TextConfig
from jen1.errors import Jen1Error, TextEncoderError


def _pooled(enc, prompts):
    emb, mask = enc.encode(prompts)
    p = (emb * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return torch.nn.functional.normalize(p, dim=-1)


def test_minilm_is_a_real_encoder(text_encoder):
    p = _pooled(
        text_encoder, ["fast energetic drums", "energetic rock drumming", "calm solo piano"]
    )
    assert p[0] @ p[1] > p[0] @ p[2] + 0.1


def test_shapes_and_mask(text_encoder):
    emb, mask = text_encoder.encode(["a", "a much longer prompt about jazz piano and drums"])
    assert emb.shape[:2] == mask.shape and emb.shape[2] == 384
    assert mask.dtype == torch.bool
    assert mask[0].sum() < mask[1].sum()
    assert torch.all(emb[0][~mask[0]] == 0)
    emb2, _ = text_encoder.encode(["a", "a much longer prompt about jazz piano and drums"])
    assert torch.equal(emb, emb2)


def test_truncates_to_max_length(text_encoder):
    emb, mask = text_encoder.encode(["word " * 200])
    assert emb.shape[1] == 16


def test_missing_t5_dir_is_clear(tmp_path):
    with pytest.raises(TextEncoderError, match="not found"):
        TextEncoder(f"t5:{tmp_path / 'flan'}")
    with pytest.raises(TextEncoderError, match="unknown text encoder"):
        TextEncoder("clip")


def test_local_t5_loads(tmp_path):
    pytest.importorskip("transformers")
    from transformers import T5Config, T5EncoderModel

    # A tiny randomly initialised T5 tests the *loading code* only; it is never used as an encoder.
    d = tmp_path / "t5"
    T5EncoderModel(
        T5Config(vocab_size=30600, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
    ).save_pretrained(d)
    from transformers import AutoTokenizer

    from jen1.conditioning.text import _minilm_path

    # any tokenizer with a small vocab file works here
    AutoTokenizer.from_pretrained(str(_minilm_path())).save_pretrained(d)
    enc = TextEncoder(f"t5:{d}", max_length=8)
    assert enc.dim == 16
    emb, mask = enc.encode(["hi"])
    assert emb.shape[-1] == 16 and mask.any()


def test_dim_mismatch():
    with pytest.raises(Jen1Error, match="384-d"):
        load_text_encoder(TextConfig(name="minilm", dim=512))


def test_minilm_matches_transformers_bert(text_encoder):
    """Our transformers-free MiniLM gives transformers' BertModel states and tokens."""
    pytest.importorskip("transformers")
    from transformers import AutoModel, AutoTokenizer

    from jen1.conditioning.text import _minilm_path

    path = str(_minilm_path())
    prompts = ["calm piano", "", "An upbeat FUNK groove, slap-bass & brass at 112 BPM; café " * 4]
    emb, mask = text_encoder.encode(prompts)
    tok = AutoTokenizer.from_pretrained(path)(
        prompts,
        padding=True,
        truncation=True,
        max_length=text_encoder.max_length,
        return_tensors="pt",
    )
    assert torch.equal(mask, tok["attention_mask"].bool())
    with torch.inference_mode():
        ref = AutoModel.from_pretrained(path).eval()(**tok).last_hidden_state
    ref = ref * mask[..., None]
    assert (emb - ref).abs().max() < 1e-4
