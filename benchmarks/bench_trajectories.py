"""Forward-backward trajectories per second of the images engine, by batch size and compute type.

    python benchmarks/bench_trajectories.py                       # CPU: a tiny random ADM, checks it runs
    python benchmarks/bench_trajectories.py --model digits \
        --path results/images/models/digits/ddpm-digits --num-steps 100 --batch 25 50 100 200
    python benchmarks/bench_trajectories.py --model adm256 --batch 8 16 32 64 128 \
        --dtype float16 bfloat16 --out adm256.json                # on a GPU: the paper's ADM-256

A trajectory is what the patch correlations run per image and k: at k = K (the whole respaced
chain, ``--num-steps`` 250 for ADM-256), K reverse steps of one image; a sweep of k = 25..250
of 250 costs 5.5 such trajectories per image and run. For each (batch, dtype) the script times
``--time-steps`` reverse steps (after one warm-up call) twice:

- the network alone: ``model(x_t, t)`` on a batch already on the device;
- the engine: :func:`hierphase.images.diffusion.forward_backward` (each image's noise drawn on the
  CPU from its own generator, the scheduler's step, the copies), as the workflow runs it;

and reports image-steps per second of both and **trajectories per second**, engine image-steps
per second over K. Models: ``tiny-adm`` (random weights, ``--image-size``; what the tests run),
``adm256`` (the paper's flags, random weights or the checkpoint ``--path``) and ``digits`` (the
diffusers folder the workflow trains, ``--path``). ADM takes float32, float16 (OpenAI's
``convert_to_fp16``) or bfloat16 (the same torso conversion); a diffusers UNet runs entirely in the
dtype. Results are printed as a table and, with ``--out``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from hierphase.images import diffusion as D
from hierphase.images import models as M

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def build_model(kind: str, dtype: torch.dtype, device: torch.device, *, path: str | None = None,
                image_size: int = 32) -> M.DiffusionModel:
    """The network of ``kind`` in ``dtype`` on ``device``, in eval mode."""
    if kind == "digits":
        if not path:
            raise SystemExit("--model digits needs --path (a diffusers UNet2DModel folder)")
        return M.load_diffusers_unet(path, device=device, dtype=dtype)
    if kind == "adm256" and path:
        return M.load_adm(path, M.AdmFlags(), device=device, dtype=dtype)
    torch.manual_seed(0)
    flags = M.AdmFlags() if kind == "adm256" else M.AdmFlags(
        image_size=image_size, num_channels=32, num_res_blocks=1, channel_mult="1,2",
        attention_resolutions="8", num_head_channels=16)
    unet = M.build_adm(flags)
    with torch.no_grad():  # OpenAI zero-initialises the output layer; make it act
        for p in unet.out.parameters():
            p.normal_(0, 0.05)
    M._convert_adm(unet, dtype)
    return M.AdmModel(unet, flags, dtype).to(device).eval().requires_grad_(False)


def _seconds(call, sync) -> float:
    """Wall time of ``call()``, the device synchronised before and after."""
    sync()
    start = time.perf_counter()
    call()
    sync()
    return time.perf_counter() - start


def time_one(model: M.DiffusionModel, batch: int, time_steps: int, num_steps: int,
             device: torch.device) -> dict:
    """Network and engine image-steps per second on ``batch`` images, and trajectories/s."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    size, channels = model.image_size, model.channels
    x0 = torch.rand((batch, channels, size, size), generator=torch.Generator().manual_seed(1))
    x0 = x0 * 2 - 1
    x = x0.to(device)
    t = torch.full((batch,), 500, device=device, dtype=torch.long)
    seeds = list(range(batch))
    with torch.inference_mode():
        model(x, t)  # warm-up: allocator, kernels
        network = _seconds(lambda: [model(x, t) for _ in range(time_steps)], sync)
    D.forward_backward(model, x0, 1, seeds, batch, False, num_steps=num_steps)  # warm-up
    engine = _seconds(lambda: D.forward_backward(model, x0, time_steps, seeds, batch, False,
                                                 num_steps=num_steps), sync)
    work = batch * time_steps
    return {"batch": batch, "network_image_steps_per_s": work / network,
            "engine_image_steps_per_s": work / engine,
            "trajectories_per_s": work / engine / num_steps}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny-adm", "adm256", "digits"], default="tiny-adm")
    ap.add_argument("--path", default=None, help="checkpoint (adm256) or diffusers folder (digits)")
    ap.add_argument("--batch", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--dtype", nargs="+", choices=sorted(_DTYPES), default=["float32"])
    ap.add_argument("--num-steps", type=int, default=250, help="respaced chain length K")
    ap.add_argument("--time-steps", type=int, default=5, help="reverse steps timed per point")
    ap.add_argument("--image-size", type=int, default=32, help="tiny-adm only")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from hierphase.devices import resolve_device

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{args.threads}"
    rows = []
    for dtype in args.dtype:
        model = build_model(args.model, _DTYPES[dtype], device, path=args.path,
                            image_size=args.image_size)
        for batch in args.batch:
            row = {"model": args.model, "device": name, "dtype": dtype,
                   "image_size": model.image_size, "K": args.num_steps,
                   **time_one(model, batch, args.time_steps, args.num_steps, device)}
            rows.append(row)
            print(f"{row['model']:>8} {dtype:>8} batch {batch:>4}: network "
                  f"{row['network_image_steps_per_s']:9.1f} img-steps/s, engine "
                  f"{row['engine_image_steps_per_s']:9.1f} img-steps/s, "
                  f"{row['trajectories_per_s']:8.3f} trajectories/s (K = {args.num_steps})",
                  flush=True)
        del model
    if args.out:
        from hierphase.io import write_json

        write_json(args.out, {"rows": rows})
    return rows


if __name__ == "__main__":
    main()
