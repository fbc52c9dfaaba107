"""Reverse-step throughput of the images engine: batched vs one image at a time.

    python benchmarks/bench_image_sampling.py                 # CPU: tiny ADM, batch 8
    python benchmarks/bench_image_sampling.py --model diffusers
    python benchmarks/bench_image_sampling.py --gpu           # on a GPU: also ADM-256 in bf16

The CPU part runs ``hierphase.images.diffusion.forward_backward`` twice over the same images,
seeds and randomly initialised model: once with ``batch_size=B`` and once with ``batch_size=1``
(the plain loop a first implementation would write), and reports image-steps per second
(reverse steps x images / wall time) for both and their ratio. Both runs must give the same images
(up to float rounding), which the script checks.

The GPU part (``--gpu``, needs CUDA) builds the paper's ADM-256 network (random weights, or
``--adm-checkpoint`` if you have it), bf16 torso, and times reverse steps on a batch; it counts the
network's FLOPs per forward with ``torch.utils.flop_counter`` and reports the achieved TFLOP/s and
its fraction of the card's dense bf16 peak (known cards, or ``--peak-tflops``).

Results are printed and, with ``--out``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from hierphase.images import diffusion as D
from hierphase.images import models as M

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from the vendors' datasheets.
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 PCIe": 756.0, "H100": 989.4,
                    "A100": 312.0, "L40S": 362.1, "A10": 125.0, "L4": 121.0}


def tiny_adm(image_size: int) -> M.AdmModel:
    torch.manual_seed(0)
    flags = M.AdmFlags(image_size=image_size, num_channels=64, num_res_blocks=1,
                       channel_mult="1,2,2", attention_resolutions="8", num_head_channels=32)
    unet = M.build_adm(flags)
    with torch.no_grad():
        for p in unet.out.parameters():          # zero-initialised by OpenAI; make it act
            p.normal_(0, 0.05)
    return M.AdmModel(unet.eval().requires_grad_(False), flags)


def tiny_diffusers(image_size: int) -> M.DiffusersUNetModel:
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=image_size, in_channels=3, out_channels=3,
                       block_out_channels=(32, 64, 64), layers_per_block=1, norm_num_groups=8,
                       down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))
    return M.wrap_diffusers_unet(unet.eval().requires_grad_(False))


def batched_vs_loop(model, batch: int, k: int, num_steps: int, image_size: int) -> dict:
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand((batch, model.channels, image_size, image_size), generator=g) * 2 - 1
    seeds = list(range(batch))
    run = lambda b: D.forward_backward(model, x0, k, seeds, num_steps=num_steps, batch_size=b,
                                       progress=False)
    run(batch)                                    # warm-up (allocator, first calls)
    t0 = time.perf_counter()
    batched = run(batch)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = run(1)
    t_single = time.perf_counter() - t0
    max_diff = float((batched.x0_hat - single.x0_hat).abs().max())
    work = batch * k
    return {"batch": batch, "reverse_steps": k, "image_steps": work,
            "batched_image_steps_per_s": work / t_batched,
            "loop_image_steps_per_s": work / t_single,
            "batched_reverse_steps_per_s": k / t_batched,
            "speedup": t_single / t_batched, "max_abs_diff": max_diff}


def adm_throughput(batch: int, steps: int, checkpoint: str | None, peak: float | None,
                   device: str = "cuda", flags: M.AdmFlags | None = None,
                   dtype: torch.dtype = torch.bfloat16) -> dict:
    """Network and engine throughput of ADM (default: the paper's 256 px flags) in ``dtype``."""
    from torch.utils.flop_counter import FlopCounterMode

    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    flags = flags or M.AdmFlags()
    if checkpoint:
        model = M.load_adm(checkpoint, flags, device=dev, dtype=dtype)
    else:
        unet = M.build_adm(flags)
        M._convert_adm(unet, dtype)
        model = M.AdmModel(unet, flags, dtype).to(dev).eval().requires_grad_(False)
    size = flags.image_size
    x = torch.randn(batch, 3, size, size, device=dev)
    t = torch.full((batch,), 500, device=dev, dtype=torch.long)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model(x, t)
        flops = counter.get_total_flops()
        for _ in range(3):
            model(x, t)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x, t)
        sync()
        dt = time.perf_counter() - t0
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    if peak is None:
        peak = next((v for key, v in PEAK_BF16_TFLOPS.items() if key in name), None)
    achieved = flops * steps / dt / 1e12
    # the engine end to end (per-image CPU noise and scheduler steps included), 10 steps
    x0 = torch.rand(batch, 3, size, size) * 2 - 1
    t0 = time.perf_counter()
    D.forward_backward(model, x0, 10, list(range(batch)), batch, False, num_steps=250)
    sync()
    engine = batch * 10 / (time.perf_counter() - t0)
    return {"device": name, "batch": batch, "image_size": size, "dtype": str(dtype),
            "gflops_per_image_step": flops / batch / 1e9,
            "network_image_steps_per_s": batch * steps / dt,
            "engine_image_steps_per_s": engine, "achieved_tflops": achieved,
            "peak_bf16_tflops": peak, "fraction_of_peak": None if peak is None else achieved / peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["adm", "diffusers"], default="adm")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--k", type=int, default=10, help="reverse steps per run")
    ap.add_argument("--num-steps", type=int, default=50, help="respaced chain length K")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gpu", action="store_true", help="also ADM-256 bf16 throughput (CUDA)")
    ap.add_argument("--gpu-batch", type=int, default=32)
    ap.add_argument("--gpu-steps", type=int, default=20)
    ap.add_argument("--adm-checkpoint", default=None)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = tiny_adm(args.image_size) if args.model == "adm" else tiny_diffusers(args.image_size)
    res = {"cpu": {"model": f"tiny {args.model} ({sum(p.numel() for p in model.parameters()):,} "
                            f"params, {args.image_size}px)", "threads": args.threads,
                   **batched_vs_loop(model, args.batch, args.k, args.num_steps, args.image_size)}}
    if args.gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu given but CUDA is not available")
        res["gpu"] = adm_throughput(args.gpu_batch, args.gpu_steps, args.adm_checkpoint,
                                    args.peak_tflops)
    print(json.dumps(res, indent=2))
    if args.out:
        from hierphase.io import write_json
        write_json(args.out, res)


if __name__ == "__main__":
    main()
