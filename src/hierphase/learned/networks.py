"""Denoiser networks for RHM leaves: a U-Net whose convolutions mirror the tree.

Why this architecture. Exact denoising of RHM data is belief propagation on a fixed tree: an upward
pass in which every node combines the messages of its ``s`` children (the same rule table for every
node of a level), a downward pass that sends context from the root back to every leaf, and at each
node a combination of the upward and downward messages. :class:`TreeUNet` has exactly that shape:

* the encoder applies, ``L`` times, a convolution with kernel size and stride ``s`` (patches never
  overlap, so position ``j`` at level ``l`` sees precisely the ``s`` children of node ``j``), with
  weights shared across positions like the rules are shared across the nodes of a level;
* the bottleneck is the root (length 1, it sees the whole datum);
* the decoder applies transposed convolutions with kernel size and stride ``s`` (a node sends one
  message to each child) and concatenates the encoder's activation at the same level (the skip
  connection plays the role of combining downward and upward messages);
* every level has a residual pointwise MLP conditioned on the noise level (FiLM), so a level can
  implement the nonlinear "sum over rules of products of child messages".

The noise level is optional (``time_conditioning``). Every process of
:mod:`hierphase.learned.diffusion` feeds the network the per-leaf likelihood of the noisy state,
and exact BP maps those likelihoods to the posterior by one function for all t; without the noise
level the network has to learn that one function, so what it learns where the posterior is hard
to get (a few ambiguous leaves at low noise, whose fix needs the class rules) is shared with the
noise levels where those rules are learned.

A transformer could also learn the task but would have to discover the tree from data; this network
gets the tree for free and stays small (hundreds of thousands of parameters for v=8, L=3), which is
what makes minutes-long CPU training possible. It predicts logits of the clean leaves, shape
``(n, v, d)``; every diffusion process in :mod:`hierphase.learned.diffusion` uses it that way.
"""

from __future__ import annotations

import math
import torch
from torch import nn
from torch.nn import functional as F

from .settings import NetworkConfig

__all__ = ["NetworkConfig", "TreeUNet", "build_network", "timestep_embedding"]


def timestep_embedding(time: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of ``time`` in [0, 1] (scaled by 1000 as in DDPM), shape ``(n, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=time.device, dtype=torch.float32) / half)
    args = 1000.0 * time.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    """Pre-norm residual position-wise MLP with FiLM time conditioning, on ``(n, length, width)``."""

    def __init__(self, width: int, emb_dim: int, expansion: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(emb_dim, 2 * width)
        self.fc1 = nn.Linear(width, expansion * width)
        self.fc2 = nn.Linear(expansion * width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, None, :].chunk(2, dim=-1)
        h = self.norm(x) * (1 + scale) + shift
        return x + self.fc2(F.gelu(self.fc1(h)))


class Down(nn.Module):
    """Convolution with kernel size = stride = s: each parent reads exactly its s children."""

    def __init__(self, width: int, s: int):
        super().__init__()
        self.s = s
        self.proj = nn.Linear(s * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, w = x.shape
        return self.proj(x.reshape(n, length // self.s, self.s * w))


class Up(nn.Module):
    """Transposed convolution with kernel size = stride = s: each node sends one message per child."""

    def __init__(self, width: int, s: int):
        super().__init__()
        self.s = s
        self.proj = nn.Linear(width, s * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, w = x.shape
        return self.proj(x).reshape(n, length * self.s, w)


class TreeUNet(nn.Module):
    """U-Net on sequences of length ``s**L`` with ``L`` non-overlapping (kernel = stride = s) levels.

    ``forward(x, time)``: ``x`` is ``(n, in_channels, s**L)``, ``time`` is ``(n,)`` in [0, 1];
    returns logits ``(n, vocab, s**L)`` of the clean leaves. Internally activations are
    ``(n, length, width)`` so that every convolution is one matrix product (fast on CPU).
    """

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.GELU(), nn.Linear(w, w))
        self.embed = nn.Linear(cfg.in_channels, w)
        self.down_blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        for _ in range(cfg.L):
            self.down_blocks.append(nn.ModuleList([ResBlock(w, w, cfg.expansion) for _ in range(cfg.blocks)]))
            self.downs.append(Down(w, cfg.s))
        self.mid = nn.ModuleList([ResBlock(w, w, cfg.expansion) for _ in range(cfg.blocks)])
        self.ups = nn.ModuleList()
        self.merges = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for _ in range(cfg.L):
            self.ups.append(Up(w, cfg.s))
            self.merges.append(nn.Linear(2 * w, w))
            self.up_blocks.append(nn.ModuleList([ResBlock(w, w, cfg.expansion) for _ in range(cfg.blocks)]))
        self.out_norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, cfg.vocab)

    @property
    def d(self) -> int:
        return self.cfg.s ** self.cfg.L

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.d or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"TreeUNet expects input (n, {self.cfg.in_channels}, {self.d}), got {tuple(x.shape)}")
        if not self.cfg.time_conditioning:
            time = torch.zeros_like(time)  # the embedding of t = 0: one learned constant vector
        emb = self.time_mlp(timestep_embedding(time, self.cfg.width))
        h = self.embed(x.transpose(1, 2))
        skips = []
        for blocks, down in zip(self.down_blocks, self.downs):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
            h = F.gelu(down(h))
        for block in self.mid:
            h = block(h, emb)
        for up, merge, blocks in zip(self.ups, self.merges, self.up_blocks):
            h = F.gelu(up(h))
            h = merge(torch.cat([h, skips.pop()], dim=-1))
            for block in blocks:
                h = block(h, emb)
        return self.out(F.gelu(self.out_norm(h))).transpose(1, 2)


def build_network(arch: str, cfg: NetworkConfig) -> nn.Module:
    """The network named ``arch`` (config key ``learned.network.arch``)."""
    if arch == "tree_unet":
        return TreeUNet(cfg)
    raise ValueError(f"learned.network.arch: unknown architecture {arch!r} (known: 'tree_unet')")
