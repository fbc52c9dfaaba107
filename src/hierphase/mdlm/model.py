"""A bidirectional diffusion transformer over token sequences (the MDLM backbone's design).

Tokens ``0 .. vocab_size - 1`` are embedded (the mask token is one of them, by convention the
last); every block is pre-norm attention and MLP with adaptive layer norm (shift, scale and a
residual gate per sublayer, all produced from a conditioning vector by one linear map, zero at
initialisation, so a fresh network is the identity plus a zero output layer); positions enter
through rotary embeddings of the queries and keys (rotate-half convention, base 10000), so the
network works at any length; attention is full (non-causal). The conditioning vector is
``silu(mlp(sinusoidal(sigma)))`` of the noise level ``sigma``; without time conditioning
(:attr:`TransformerConfig.time_conditioning` false, the default, as for the published MDLM) sigma
is 0 and the vector is a learned constant: the clean-token posterior of masked diffusion does not
depend on the level once the visible tokens are given.

Parameter names and shapes follow the published MDLM checkpoint's layout
(``vocab_embed.embedding``, ``sigma_map.mlp.{0,2}``, ``blocks.<i>.{norm1, attn_qkv, attn_out,
norm2, mlp.{0,2}, adaLN_modulation}``, ``output_layer.{norm_final, linear, adaLN_modulation}``),
so :mod:`hierphase.mdlm.published` loads such a checkpoint into this class.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TransformerConfig", "DiffusionTransformer", "FREQUENCY_DIM"]

#: Size of the sinusoidal embedding of the noise level (the published layout's first MLP input).
FREQUENCY_DIM = 256


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a :class:`DiffusionTransformer` (config keys ``mdlm.network.*``).

    ``vocab_size`` counts every token id the network reads and scores, the mask included.
    """

    vocab_size: int
    hidden: int = 128
    n_blocks: int = 2
    n_heads: int = 4
    cond_dim: int = 64
    mlp_ratio: int = 4
    dropout: float = 0.0
    time_conditioning: bool = False

    def __post_init__(self):
        for name in ("vocab_size", "hidden", "n_blocks", "n_heads", "cond_dim", "mlp_ratio"):
            _positive_int(getattr(self, name), name)
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2 (a token and the mask), got {self.vocab_size}")
        if self.hidden % self.n_heads or (self.hidden // self.n_heads) % 2:
            raise ValueError(f"hidden must be n_heads times an even head size, got hidden={self.hidden}, "
                             f"n_heads={self.n_heads}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.time_conditioning, bool):
            raise ValueError(f"time_conditioning must be a bool, got {self.time_conditioning!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class _LayerNorm(nn.Module):
    """Layer norm with a scale and no bias, computed in float32 whatever the autocast."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.layer_norm(x.float(), (x.shape[-1],)) * self.weight


class _LevelEmbedding(nn.Module):
    """``mlp(sinusoidal(sigma))``: cosines then sines of ``FREQUENCY_DIM / 2`` frequencies."""

    def __init__(self, cond_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(FREQUENCY_DIM, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        half = FREQUENCY_DIM // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=sigma.device, dtype=torch.float32) / half)
        angle = sigma.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, rotate-half convention: pairs (x_k, x_{k + d/2}) turned by angle_k."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


class _Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        d = cfg.hidden
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.norm1 = _LayerNorm(d)
        self.attn_qkv = nn.Linear(d, 3 * d, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.norm2 = _LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_ratio * d), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.mlp_ratio * d, d))
        self.adaLN_modulation = nn.Linear(cfg.cond_dim, 6 * d)
        nn.init.zeros_(self.adaLN_modulation.weight)
        nn.init.zeros_(self.adaLN_modulation.bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c)[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        q, k, v = self.attn_qkv(h).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        q, k = _rotate(q, cos, sin).to(v.dtype), _rotate(k, cos, sin).to(v.dtype)
        att = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
        att = self.attn_out(att.transpose(1, 2).reshape(b, n, d))
        x = x + gate1 * F.dropout(att, self.dropout, self.training)
        h = self.mlp(self.norm2(x) * (1 + scale2) + shift2)
        return x + gate2 * F.dropout(h, self.dropout, self.training)


class _OutputLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm_final = _LayerNorm(cfg.hidden)
        self.linear = nn.Linear(cfg.hidden, cfg.vocab_size)
        self.adaLN_modulation = nn.Linear(cfg.cond_dim, 2 * cfg.hidden)
        for layer in (self.linear, self.adaLN_modulation):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=-1)
        return self.linear(self.norm_final(x) * (1 + scale) + shift)


class _TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(vocab_size, dim))
        nn.init.kaiming_uniform_(self.embedding, a=math.sqrt(5))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embedding[tokens]


class DiffusionTransformer(nn.Module):
    """``forward(tokens (b, n) int64, sigma (b,) or None) -> logits (b, n, vocab_size)`` (float32).

    ``sigma`` is read only with time conditioning (else 0 is used, whatever is given).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if not isinstance(cfg, TransformerConfig):
            raise TypeError(f"cfg must be a TransformerConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.vocab_embed = _TokenEmbedding(cfg.vocab_size, cfg.hidden)
        self.sigma_map = _LevelEmbedding(cfg.cond_dim)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_blocks))
        self.output_layer = _OutputLayer(cfg)
        head = cfg.hidden // cfg.n_heads
        self.register_buffer("inv_freq", 1.0 / 10000.0 ** (torch.arange(0, head, 2).float() / head),
                             persistent=False)

    def forward(self, tokens: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.dtype != torch.long:
            raise ValueError(f"tokens must be an int64 tensor (batch, length), got {tokens.dtype} "
                             f"{tuple(tokens.shape)}")
        b, n = tokens.shape
        if not self.cfg.time_conditioning or sigma is None:
            sigma = torch.zeros(b, device=tokens.device)
        c = F.silu(self.sigma_map(sigma.reshape(b)))
        angle = torch.arange(n, device=tokens.device, dtype=torch.float32)[:, None] * self.inv_freq[None]
        cos, sin = angle.cos(), angle.sin()
        x = self.vocab_embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin, c)
        return self.output_layer(x, c).float()
