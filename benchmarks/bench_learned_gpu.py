"""Training throughput of the learned branch's denoiser at paper scale: steps/s and peak memory.

Trains the tree U-Net on RHM data (paper preset: v=32, m=8, s=2, L=6, width 256, 2 blocks, batch
512) for a fixed number of steps on the selected device, after a few warm-up steps, and prints one JSON line:
steps per second, samples per second, peak memory (CUDA allocator on a GPU, max RSS on CPU) and,
as the reference measured in the same process, the throughput of the small default model (v=8,
m=3, L=3, width 64, batch 256), so the ratio is comparable across machines.

    python benchmarks/bench_learned_gpu.py                       # GPU when present, 200 steps
    python benchmarks/bench_learned_gpu.py --device cpu --steps 3 --warmup 1   # tiny CPU check
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from hierphase import noise, rhm
from hierphase.learned.diffusion import make_process
from hierphase.learned.networks import NetworkConfig, TreeUNet
from hierphase.devices import resolve_device
from hierphase.learned.train import TrainConfig, train


def measure(v, m, s, L, width, blocks, batch, steps, warmup, process, device) -> dict:
    rules = rhm.sample_rules(v, m, s, L, seed=0)
    data = rhm.sample_trees(rules, max(4 * batch, 4096), seed=1)[-1]
    proc = make_process(process, v, noise.GaussianSchedule())
    torch.manual_seed(0)
    # the pipeline's network: no time conditioning (learned.network.time_conditioning)
    net = TreeUNet(NetworkConfig(proc.in_channels, v, s, L, width=width, blocks=blocks,
                                 time_conditioning=False))
    n_params = sum(p.numel() for p in net.parameters())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # warm-up run (kernels, allocator), then the timed run of `steps` more steps from scratch
    train(proc, net, data, TrainConfig(steps=max(warmup, 1), batch_size=batch, warmup=1), 0, device=device,
          progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    train(proc, net, data, TrainConfig(steps=steps, batch_size=batch, warmup=1, log_every=steps), 1, device=device,
          progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed = time.perf_counter() - start
    return {"v": v, "m": m, "s": s, "L": L, "d": s**L, "width": width, "blocks": blocks, "batch": batch,
            "params": n_params,
            "process": process, "steps": steps, "seconds": elapsed, "steps_per_s": steps / elapsed,
            "samples_per_s": steps * batch / elapsed, "peak_mem_mib": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--process", default="gaussian", choices=["gaussian", "masking", "uniform"])
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    paper = measure(32, 8, 2, args.L, args.width, args.blocks, args.batch, args.steps, args.warmup,
                    args.process, device)
    small = measure(8, 3, 2, 3, 64, 1, 256, args.steps, args.warmup, args.process, device)
    print(json.dumps({"device": str(device), "name": torch.cuda.get_device_name(device) if device.type == "cuda"
                      else "cpu", "paper": paper, "default": small,
                      "paper_over_default_time_per_step": small["steps_per_s"] / paper["steps_per_s"]}, indent=1))


if __name__ == "__main__":
    main()
