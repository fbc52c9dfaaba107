"""Glue of the images branch of the workflow: one function per stage, on plain Python values.

The science lives in :mod:`hierphase.images.diffusion` (forward-backward), ``models`` (ADM and
diffusers adapters), ``classifiers`` (hooked features, statistics, similarity, class kept),
``imagenet`` and ``digits`` (data and the digits models). This module strings them together the
way the workflow's stages need it (shards, per-image seeds, tidy tables), so a notebook can run
one stage exactly as the pipeline does. It imports no Snakemake.

Stages: data shards -> [digits: train DDPM + classifier] -> feature statistics on the clean images
-> forward-backward per (k, shard) -> per-shard measurements -> ``class_kept`` and
``layer_similarity`` tables.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from hierphase.seeding import derive_seed
from hierphase.stats import mean_interval, wilson_interval

if TYPE_CHECKING:
    import torch

# torch, the shards and the models are imported by the functions that use them: the aggregate
# and figure jobs that only read tables then start without torch.

__all__ = [
    "CLASS_KEPT_COLUMNS",
    "LAYER_SIMILARITY_COLUMNS",
    "MEASURE_COLUMNS",
    "image_seeds",
    "load_diffusion_model",
    "load_sweep_model",
    "sweep_shard",
    "measure_shard",
    "aggregate",
    "unconditional_samples",
    "quality_table",
]

log = logging.getLogger(__name__)

CLASS_KEPT_COLUMNS = ["dataset", "model", "classifier", "k", "K", "t", "t_over_T", "kept",
                      "ci_low", "ci_high", "n"]
LAYER_SIMILARITY_COLUMNS = ["dataset", "model", "classifier", "k", "K", "t", "t_over_T", "layer",
                            "depth", "similarity", "ci_low", "ci_high", "n"]
#: Per-shard measurement rows: one per (image, layer).
MEASURE_COLUMNS = ["name", "label", "k", "K", "t", "t_over_T", "pred_x0", "pred_x0_hat", "kept",
                   "layer", "depth", "similarity"]


def image_seeds(seed: int, stage: str, k: int, names: Sequence[str]) -> list[int]:
    """One seed per image from the job's ``seed`` (the same for every shard of a stage), the
    stage, k and the image's name, so an image gets the same noise whatever shard it lands in and
    however the sweep is split."""
    return [derive_seed(seed, "images", stage, int(k), str(name)) for name in names]


def load_diffusion_model(kind: str, path: str | os.PathLike, *, device: str = "auto",
                         dtype: str = "auto", flags: Mapping | None = None):
    """The ``DiffusionModel`` of config ``images.model``: kinds ``train`` and ``diffusers`` are
    diffusers ``UNet2DModel`` folders; ``adm`` an OpenAI checkpoint with ``flags``."""
    from hierphase.images.models import load_model

    if kind == "train":
        kind = "diffusers"
    return load_model(kind, path, device=device, dtype=dtype, flags=dict(flags or {}) or None)


def load_sweep_model(k: int, kind: str, path: str | os.PathLike, **kwargs):
    """The diffusion model a sweep at respaced step ``k`` needs: :func:`load_diffusion_model`, or
    None at ``k = 0``, where forward-backward returns x0 itself and calls no network (the job then
    skips loading the model and its libraries)."""
    if int(k) == 0:
        return None
    return load_diffusion_model(kind, path, **kwargs)


def sweep_shard(model, shard: Mapping, k: int, *, num_steps: int, seed: int,
                batch_size: int, progress: bool = True) -> tuple[torch.Tensor, dict]:
    """Forward-backward every image of ``shard`` at respaced step ``k``: returns x̂0 as uint8
    (N, C, H, W) (as OpenAI's sampler saves its samples) and the step's record (k, K, t, t/T).
    ``model`` may be None at ``k = 0`` (see :func:`load_sweep_model`)."""
    from hierphase.images.diffusion import forward_backward
    from hierphase.images.shards import to_model_scale, to_uint8

    x0 = to_model_scale(shard["images"])
    seeds = image_seeds(seed, "sweep", k, shard["names"])
    out = forward_backward(model, x0, k, seeds, batch_size, progress, num_steps=num_steps)
    return to_uint8(out.x0_hat), out.record()


def measure_shard(classifier, clean: Mapping, swept: Mapping, record: Mapping,
                  stats: Mapping, *, batch_size: int, progress: bool = True) -> pd.DataFrame:
    """Class kept and per-layer similarity of every (x0, x̂0) pair of one shard: a long table
    with one row per (image, layer) (``MEASURE_COLUMNS``)."""
    from hierphase.images.classifiers import measure

    if list(clean["names"]) != list(swept["names"]):
        raise ValueError("clean and swept shards hold different images")
    res = measure(classifier, clean["images"], swept["images"], stats, batch_size=batch_size,
                  progress=progress)
    layers = classifier.layer_names
    n, n_layers = res["similarity"].shape
    df = pd.DataFrame({
        "name": np.repeat(np.asarray(clean["names"], dtype=object), n_layers),
        "label": np.repeat(clean["labels"].numpy(), n_layers),
        "pred_x0": np.repeat(res["pred_x0"].numpy(), n_layers),
        "pred_x0_hat": np.repeat(res["pred_x0_hat"].numpy(), n_layers),
        "kept": np.repeat(res["kept"].numpy(), n_layers),
        "layer": np.tile(np.asarray(layers, dtype=object), n),
        "depth": np.tile(np.arange(n_layers), n),
        "similarity": res["similarity"].numpy().reshape(-1).astype(np.float64),
    })
    for key in ("k", "K", "t"):
        df[key] = int(record[key])
    df["t_over_T"] = float(record["t_over_T"])
    return df[MEASURE_COLUMNS]


def aggregate(shards: Sequence[pd.DataFrame], *, dataset: str, model: str,
              classifier: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-shard measurements -> (``class_kept``, ``layer_similarity``) tidy tables.

    ``kept`` is the fraction of images whose predicted class survives, with a Wilson 95% interval;
    ``similarity`` the mean cosine similarity per layer with a normal 95% interval (mean +- 1.96
    standard errors over images). One row per k (and layer), sorted by t."""
    df = pd.concat(shards, ignore_index=True)
    if df.duplicated(["name", "k", "layer"]).any():
        raise ValueError("an image appears twice at the same k: overlapping shards")
    ident = {"dataset": dataset, "model": model, "classifier": classifier}
    steps = ["k", "K", "t", "t_over_T"]
    per_image = df.drop_duplicates(["name", "k"])
    kept = per_image.groupby(steps, as_index=False).agg(successes=("kept", "sum"),
                                                        n=("kept", "size"))
    low, high = wilson_interval(kept["successes"].to_numpy(), kept["n"].to_numpy())
    kept = kept.assign(**ident, kept=kept["successes"] / kept["n"], ci_low=low, ci_high=high)
    rows = []
    for (k, K, t, tt, layer, depth), g in df.groupby(steps + ["layer", "depth"], sort=False):
        mean, lo, hi, n = mean_interval(g["similarity"].to_numpy())
        rows.append({**ident, "k": k, "K": K, "t": t, "t_over_T": tt, "layer": layer,
                     "depth": depth, "similarity": float(mean), "ci_low": float(lo),
                     "ci_high": float(hi), "n": int(n)})
    sim = pd.DataFrame(rows)
    kept = kept[CLASS_KEPT_COLUMNS].sort_values("t").reset_index(drop=True)
    sim = sim[LAYER_SIMILARITY_COLUMNS].sort_values(["t", "depth"]).reset_index(drop=True)
    return kept, sim


def unconditional_samples(model, n: int, *, num_steps: int, seed: int, batch_size: int,
                          progress: bool = True) -> torch.Tensor:
    """``n`` unconditional samples (uint8) with the respaced ancestral sampler: forward-backward
    at k = K from x0 = 0, i.e. x_K ~ N(0, (1 - abar_T) I), then all K reverse steps."""
    import torch

    from hierphase.images.diffusion import forward_backward
    from hierphase.images.shards import to_uint8

    shape = (n, model.channels, model.image_size, model.image_size)
    seeds = image_seeds(seed, "samples", num_steps, [f"sample-{i}" for i in range(n)])
    out = forward_backward(model, torch.zeros(shape), num_steps, seeds, batch_size, progress,
                           num_steps=num_steps)
    return to_uint8(out.x0_hat)


def quality_table(*, accuracy: float, n_held_out: int, confidences: Sequence[float],
                  confidence: float, min_accuracy: float, min_confident_fraction: float,
                  dataset: str, model: str, classifier: str) -> pd.DataFrame:
    """The two quality numbers of the trained digits models, with targets and Wilson intervals:
    the classifier's held-out accuracy, and the fraction of the DDPM's unconditional samples the
    classifier labels with confidence above ``confidence``."""
    conf = np.asarray(confidences, dtype=float)
    n_conf = int((conf > confidence).sum())
    k_acc = int(round(accuracy * n_held_out))
    rows = []
    for metric, k, n, target in (("classifier_held_out_accuracy", k_acc, n_held_out, min_accuracy),
                                 (f"samples_confidence_gt_{confidence:g}", n_conf, len(conf),
                                  min_confident_fraction)):
        lo, hi = wilson_interval(k, n)
        value = k / n if n else float("nan")
        rows.append({"dataset": dataset, "model": model, "classifier": classifier,
                     "metric": metric, "value": value, "ci_low": float(lo), "ci_high": float(hi),
                     "n": n, "target": target, "passed": bool(value >= target)})
    return pd.DataFrame(rows)


def read_sweep(path) -> tuple[dict, dict]:
    """A sweep shard (an image shard of x̂0) and its step record from the sidecar."""
    from hierphase.images.shards import read_shard
    from hierphase.io import read_sidecar

    return read_shard(path), read_sidecar(path)["record"]


def write_sweep(path, x0_hat: torch.Tensor, clean: Mapping, record: Mapping, *,
                config: Mapping | None = None, seed: int | None = None) -> None:
    from hierphase.images.shards import write_shard

    write_shard(path, x0_hat, clean["labels"], clean["names"], config=config, seed=seed,
                record=dict(record))
