"""The published-checkpoint path: a tiny random MDLM written in the published file layouts, loaded
by the package, checked against a functional forward written from the published architecture,
and run end to end through the text protocol."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from hierphase.mdlm.diffusion import ModelDenoiser
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
from hierphase.mdlm.published import load_published
from hierphase.text.corpus import load_tokenizer, passages, read_corpus, train_tokenizer
from hierphase.text.protocol import change_correlations

HEADS = 2


def _random_backbone(vocab=11, hidden=16, n_blocks=2, cond_dim=8, seed=0):
    torch.manual_seed(seed)
    net = DiffusionTransformer(TransformerConfig(vocab_size=vocab, hidden=hidden, n_blocks=n_blocks,
                                                 n_heads=HEADS, cond_dim=cond_dim))
    with torch.no_grad():
        for p in net.parameters():  # the zero initialisation would hide most of the layout
            p.normal_(0, 0.4)
    return net


def _reference_logits(w: dict, tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The published DiT backbone's forward written out from its description, on a flat dict of
    its parameters (no time conditioning: sigma = 0)."""
    lin = lambda x, name, bias=True: F.linear(x, w[name + ".weight"], w.get(name + ".bias") if bias else None)  # noqa: E731
    x = w["vocab_embed.embedding"][tokens]
    b, n, d = x.shape
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    t_emb = torch.cat([torch.cos(0 * freqs), torch.sin(0 * freqs)])[None]
    c = F.silu(lin(F.silu(lin(t_emb, "sigma_map.mlp.0")), "sigma_map.mlp.2"))
    hd = d // n_heads
    inv = 1.0 / 10000 ** (torch.arange(0, hd, 2).float() / hd)
    ang = torch.arange(n).float()[:, None] * inv[None]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def rotary(q):  # q * cos + rotate_half(q) * sin
        q1, q2 = q[..., : hd // 2], q[..., hd // 2:]
        return q * cos + torch.cat([-q2, q1], -1) * sin

    def ln(x, name):
        return F.layer_norm(x, (d,)) * w[name]

    i = 0
    while f"blocks.{i}.norm1.weight" in w:
        p = f"blocks.{i}."
        sh1, sc1, g1, sh2, sc2, g2 = lin(c, p + "adaLN_modulation")[:, None].chunk(6, dim=2)
        h = ln(x, p + "norm1.weight") * (1 + sc1) + sh1
        qkv = lin(h, p + "attn_qkv", bias=False).reshape(b, n, 3, n_heads, hd)
        q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))
        att = torch.softmax(rotary(q) @ rotary(k).transpose(-1, -2) / math.sqrt(hd), -1) @ v
        x = x + g1 * lin(att.transpose(1, 2).reshape(b, n, d), p + "attn_out", bias=False)
        h = ln(x, p + "norm2.weight") * (1 + sc2) + sh2
        x = x + g2 * lin(F.gelu(lin(h, p + "mlp.0"), approximate="tanh"), p + "mlp.2")
        i += 1
    sh, sc = lin(c, "output_layer.adaLN_modulation")[:, None].chunk(2, dim=2)
    return lin(ln(x, "output_layer.norm_final.weight") * (1 + sc) + sh, "output_layer.linear")


def _write_hf_layout(net: DiffusionTransformer, folder):
    from safetensors.torch import save_file

    folder.mkdir()
    cfg = net.cfg
    (folder / "config.json").write_text(json.dumps({
        "model_type": "mdlm", "vocab_size": cfg.vocab_size, "model_length": 64, "hidden_dim": cfg.hidden,
        "cond_dim": cfg.cond_dim, "n_blocks": cfg.n_blocks, "n_heads": cfg.n_heads, "dropout": 0.1,
        "time_conditioning": False, "return_dict": False}))
    tensors = {"backbone." + k: v.contiguous() for k, v in net.state_dict().items()}
    tensors["backbone.rotary_emb.inv_freq"] = net.inv_freq.clone()
    save_file(tensors, str(folder / "model.safetensors"))


def test_network_matches_the_published_forward_written_out():
    net = _random_backbone().eval()
    tokens = torch.randint(0, 11, (3, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = _reference_logits(dict(net.state_dict()), tokens, HEADS)
        assert torch.allclose(net(tokens), ref, atol=1e-4, rtol=1e-4)


def test_loads_the_published_directory_layout(tmp_path):
    net = _random_backbone().eval()
    _write_hf_layout(net, tmp_path / "mdlm-owt")
    loaded = load_published(tmp_path / "mdlm-owt")
    assert loaded.mask_id == 10 and loaded.net.cfg == dataclasses.replace(net.cfg, dropout=0.1)
    tokens = torch.randint(0, 11, (2, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(loaded.net(tokens), net(tokens))


def test_loads_a_training_checkpoint_with_its_moving_average(tmp_path):
    net = _random_backbone(seed=1).eval()
    ema = _random_backbone(seed=2).eval()
    state = {"state_dict": {"backbone." + k: v for k, v in net.state_dict().items()},
             "ema": {"shadow_params": [p.detach().clone() for p in ema.parameters()]}}
    torch.save(state, tmp_path / "mdlm.ckpt")
    tokens = torch.randint(0, 11, (2, 7), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(load_published(tmp_path / "mdlm.ckpt", n_heads=HEADS).net(tokens), ema(tokens))
        raw = load_published(tmp_path / "mdlm.ckpt", n_heads=HEADS, use_ema=False).net
        assert torch.equal(raw(tokens), net(tokens))


def test_missing_or_wrong_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="text.checkpoint"):
        load_published(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="text.checkpoint"):
        load_published(None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_published(tmp_path / "empty")
    net = _random_backbone()
    _write_hf_layout(net, tmp_path / "bad")
    cfg = json.loads((tmp_path / "bad" / "config.json").read_text())
    cfg["cond_dim"] = 12
    (tmp_path / "bad" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="shape"):
        load_published(tmp_path / "bad")


def test_published_path_runs_end_to_end_on_a_tiny_random_model(tmp_path):
    # a local corpus (WikiText-2's raw format), a saved tokenizer (GPT-2's stand-in) and a
    # checkpoint whose vocabulary is the tokenizer's plus the mask
    text = "\n".join(f" = Section {k} = \n The river rose {k} times and the town kept its records . "
                     f"Each record of the flood names the street , the height and the day . " for k in range(60))
    (tmp_path / "wiki.test.raw").write_text(text)
    corpus = read_corpus(tmp_path / "wiki.test.raw")
    train_tokenizer(corpus, "bpe", vocab_size=300).save(tmp_path / "tokenizer.json")
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    net = _random_backbone(vocab=tok.vocab_size + 1, hidden=16, n_blocks=1)
    _write_hf_layout(net, tmp_path / "ckpt")
    model = load_published(tmp_path / "ckpt")
    assert model.mask_id == tok.vocab_size
    ids = tok.encode(corpus.text)
    rows = passages(ids, 4, 24, seed=0)
    out = change_correlations(ModelDenoiser(model.net, model.mask_id, steps=8), rows, [0.3, 0.7],
                              n_maskings=6, seed=1, n_boot=20)
    assert set(out.chi.cutoff) == {"r<=5", "r<=10", "r<=20", "all"}
    assert np.isfinite(out.chi.chi).all() and (out.chi.changed > 0).all()
