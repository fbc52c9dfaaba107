"""Throughput of the masked diffusion language model and the n-gram control.

Prints one JSON line: training steps per second of the text model at the chosen scale (default:
the CPU scale, hidden 64, 2 blocks, batch 32 x 128 tokens, vocabulary 513; ``--paper``: the
published MDLM's small shape, hidden 768, 12 blocks, 12 heads, batch 32 x 128, vocabulary 50258,
for a GPU), forward-backward rows per second of the model's sampler and of the bigram control,
and, measured in the same process as the reference, the steps per second of a tiny model, so
ratios compare across machines.

    python benchmarks/bench_mdlm.py --steps 5            # CPU scale
    python benchmarks/bench_mdlm.py --paper --steps 50   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hierphase.devices import resolve_device
from hierphase.mdlm.diffusion import ModelDenoiser, forward_backward
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
from hierphase.mdlm.train import TrainConfig, train
from hierphase.text.ngram import fit_ngram


def steps_per_second(cfg: TransformerConfig, batch: int, length: int, steps: int, device) -> float:
    g = torch.Generator().manual_seed(0)
    data = torch.randint(cfg.vocab_size - 1, (max(4 * batch, 256), length), generator=g)
    torch.manual_seed(0)
    net = DiffusionTransformer(cfg)
    train(net, data, cfg.vocab_size - 1, TrainConfig(steps=2, batch_size=batch, warmup=1, log_every=1),
          seed=0, device=device, progress_every=10**9)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    train(net, data, cfg.vocab_size - 1, TrainConfig(steps=steps, batch_size=batch, warmup=1, log_every=steps),
          seed=0, device=device, progress_every=10**9)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.paper:
        cfg = TransformerConfig(vocab_size=50258, hidden=768, n_blocks=12, n_heads=12, cond_dim=128)
    else:
        cfg = TransformerConfig(vocab_size=513, hidden=64, n_blocks=2, n_heads=4, cond_dim=32)
    tiny = TransformerConfig(vocab_size=17, hidden=16, n_blocks=1, n_heads=2, cond_dim=8)
    out = {"device": str(device), "scale": "paper" if args.paper else "cpu",
           "steps_per_s": steps_per_second(cfg, 32, 128, args.steps, device),
           "reference_tiny_steps_per_s": steps_per_second(tiny, 8, 16, args.steps, device)}
    out["ratio"] = out["steps_per_s"] / out["reference_tiny_steps_per_s"]
    rng = np.random.default_rng(0)
    x0 = torch.from_numpy(rng.integers(0, min(512, cfg.vocab_size - 1), size=(8, 128)))
    torch.manual_seed(0)
    net = DiffusionTransformer(cfg).to(device).eval()
    start = time.perf_counter()
    forward_backward(ModelDenoiser(net, cfg.vocab_size - 1, steps=32), x0, 0.5, 4, seed=0)
    out["model_forward_backward_rows_per_s"] = 32 / (time.perf_counter() - start)
    ngram = fit_ngram([rng.integers(0, 512, size=20000)], 2, 512)
    start = time.perf_counter()
    forward_backward(ngram.denoiser(), x0 % 512, 0.5, 4, seed=0)
    out["bigram_forward_backward_rows_per_s"] = 32 / (time.perf_counter() - start)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
