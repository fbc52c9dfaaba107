"""Loading a published MDLM checkpoint (masked diffusion on OpenWebText, GPT-2 tokenizer) from a
local path into :class:`hierphase.mdlm.model.DiffusionTransformer`.

Two layouts are read, both with the backbone's parameters under the prefix ``backbone.``:

* a directory in the Hugging Face layout of the published release: ``config.json`` (``hidden_dim``,
  ``cond_dim``, ``n_blocks``, ``n_heads``, ``vocab_size``, ``dropout``, ``time_conditioning``;
  ``model_type`` ``"mdlm"`` when present) and ``model.safetensors``;
* a torch file holding plain tensors only (read with ``weights_only=True``): ``{"state_dict":
  {...}}`` as a training checkpoint stores it, optionally with ``"ema": {"shadow_params": [...]}``,
  the exponential moving average of the parameters in registration order, which the published
  evaluation uses (``use_ema``). Its shape is read from the tensors; the number of heads, which
  the tensors do not show, is an argument (12 for the published small model).

The rotary frequencies some files store (``backbone.rotary_emb.inv_freq``) are checked against
the network's own. The mask is the last id (``vocab_size - 1``; 50257 after GPT-2's 50257 tokens).
A missing path raises FileNotFoundError naming the config key (``text.checkpoint``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from hierphase.io import load_tensors
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig

__all__ = ["CHECKPOINT_KEY", "PublishedModel", "load_published"]

#: The config key of the checkpoint path (named in the error when it is missing).
CHECKPOINT_KEY = "text.checkpoint"
_PREFIX = "backbone."
_ROTARY = "rotary_emb.inv_freq"


@dataclass(frozen=True)
class PublishedModel:
    net: DiffusionTransformer
    mask_id: int
    source: str


def _backbone(state: dict, where: str) -> dict:
    out = {k[len(_PREFIX):]: v for k, v in state.items() if k.startswith(_PREFIX)}
    if not out:
        raise ValueError(f"{where}: no parameters under the prefix {_PREFIX!r}; not an MDLM checkpoint")
    return out


def _load_into(net: DiffusionTransformer, weights: dict, where: str) -> None:
    weights = dict(weights)
    rotary = weights.pop(_ROTARY, None)
    if rotary is not None and (rotary.shape != net.inv_freq.shape
                               or not torch.allclose(rotary.float().cpu(), net.inv_freq.cpu())):
        raise ValueError(f"{where}: stored rotary frequencies differ from the network's (n_heads wrong?)")
    own = net.state_dict()
    missing, extra = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or extra:
        raise ValueError(f"{where}: parameters do not match the MDLM layout (missing {missing[:5]}, "
                         f"unexpected {extra[:5]})")
    for k, v in weights.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{where}: {k} has shape {tuple(v.shape)}, the config gives {tuple(own[k].shape)}")
    net.load_state_dict({k: v.float() for k, v in weights.items()})


def _from_directory(path: Path) -> tuple[DiffusionTransformer, str]:
    cfg_path, weights_path = path / "config.json", path / "model.safetensors"
    for p in (cfg_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"{CHECKPOINT_KEY}: {path} has no {p.name} (expected config.json and "
                                    "model.safetensors, the published layout)")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("model_type", "mdlm") != "mdlm":
        raise ValueError(f"{cfg_path}: model_type is {cfg.get('model_type')!r}, not 'mdlm'")
    try:
        net_cfg = TransformerConfig(vocab_size=int(cfg["vocab_size"]), hidden=int(cfg["hidden_dim"]),
                                    n_blocks=int(cfg["n_blocks"]), n_heads=int(cfg["n_heads"]),
                                    cond_dim=int(cfg["cond_dim"]), dropout=float(cfg.get("dropout", 0.0)),
                                    time_conditioning=bool(cfg.get("time_conditioning", False)))
    except KeyError as err:
        raise ValueError(f"{cfg_path}: missing entry {err.args[0]!r}") from None
    from safetensors.torch import load_file

    net = DiffusionTransformer(net_cfg)
    _load_into(net, _backbone(load_file(str(weights_path)), str(weights_path)), str(weights_path))
    return net, str(path)


def _from_file(path: Path, n_heads: int, time_conditioning: bool, use_ema: bool) -> tuple[DiffusionTransformer, str]:
    state = load_tensors(path)
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise ValueError(f"{path}: expected a dict with a 'state_dict' entry (an MDLM training checkpoint)")
    weights = _backbone(state["state_dict"], str(path))
    try:
        vocab, hidden = weights["vocab_embed.embedding"].shape
        cond_dim = weights["sigma_map.mlp.0.weight"].shape[0]
        mlp = weights["blocks.0.mlp.0.weight"].shape[0]
    except KeyError as err:
        raise ValueError(f"{path}: missing parameter backbone.{err.args[0]}") from None
    n_blocks = len({k.split(".")[1] for k in weights if k.startswith("blocks.")})
    if mlp % hidden:
        raise ValueError(f"{path}: MLP width {mlp} is not a multiple of hidden {hidden}")
    net = DiffusionTransformer(TransformerConfig(vocab_size=int(vocab), hidden=int(hidden), n_blocks=n_blocks,
                                                 n_heads=n_heads, cond_dim=int(cond_dim), mlp_ratio=mlp // hidden,
                                                 time_conditioning=time_conditioning))
    _load_into(net, weights, str(path))
    if use_ema and isinstance(state.get("ema"), dict) and "shadow_params" in state["ema"]:
        shadow = list(state["ema"]["shadow_params"])
        params = list(net.parameters())
        if len(shadow) < len(params):
            raise ValueError(f"{path}: ema holds {len(shadow)} parameters, the backbone has {len(params)}")
        with torch.no_grad():
            for k, (p, s) in enumerate(zip(params, shadow)):  # the backbone's parameters come first
                if tuple(s.shape) != tuple(p.shape):
                    raise ValueError(f"{path}: ema parameter {k} has shape {tuple(s.shape)}, expected {tuple(p.shape)}")
                p.copy_(s.float())
    return net, str(path)


def load_published(path: str | os.PathLike | None, n_heads: int = 12, time_conditioning: bool = False,
                   use_ema: bool = True, device: torch.device | str = "cpu") -> PublishedModel:
    """The published MDLM network at ``path`` (a directory in the published layout, or a torch file;
    module docstring), in eval mode on ``device``, with its mask id."""
    if path is None or str(path) == "":
        raise FileNotFoundError(f"{CHECKPOINT_KEY} is not set: give the local path of the MDLM checkpoint")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{CHECKPOINT_KEY}: no checkpoint at {p} (set {CHECKPOINT_KEY} to the local "
                                "MDLM checkpoint: a directory with config.json and model.safetensors, or a .ckpt/.pt)")
    net, source = _from_directory(p) if p.is_dir() else _from_file(p, n_heads, time_conditioning, use_ema)
    return PublishedModel(net=net.to(device).eval(), mask_id=net.cfg.vocab_size - 1, source=source)
