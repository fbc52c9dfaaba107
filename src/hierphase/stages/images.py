"""Glue of the images branch of the workflow: one function per stage, on plain Python values.

The science lives in :mod:`hierphase.images.diffusion` (forward-backward), ``models`` (ADM and
diffusers adapters), ``classifiers`` (hooked features, statistics, similarity, class kept),
``imagenet`` and ``digits`` (data and the digits models). This module strings them together the
way the workflow's stages need it (shards, per-image seeds, tidy tables), so a notebook can run
one stage exactly as the pipeline does. It imports no Snakemake.

Stages: data shards -> [digits: train DDPM + classifier] -> feature statistics on the clean images
-> forward-backward per (k, shard) -> per-shard measurements -> ``class_kept`` and
``layer_similarity`` tables. Beside them, change correlations of patches: ``n_traj``
forward-backward runs of each of the first images per (k, shard) -> per-image pair sums of the
patch changes in every embedding (:func:`correlation_shard`) -> ``patch_correlations`` and
``patch_susceptibility`` tables (:func:`aggregate_patch_correlations`).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from hierphase.seeding import derive_seed
from hierphase.stats import mean_interval, wilson_interval
from hierphase.tables import CLASS_KEPT_COLUMNS, LAYER_SIMILARITY_COLUMNS, MEASURE_COLUMNS

if TYPE_CHECKING:
    import torch

# torch, the shards and the models are imported by the functions that use them: the aggregate
# and figure jobs that only read tables then start without torch.

__all__ = [
    "held_out_accuracy",
    "sample_confidence",
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
    "trajectory_seeds",
    "correlation_images",
    "correlation_shard",
    "aggregate_patch_correlations",
    "digits_split",
    "digits_data",
    "imagenet_data",
    "train_ddpm",
    "train_classifier",
    "classifier_statistics",
    "sweep_file",
    "measure_sweep",
    "correlation_sweep",
    "quality",
]

log = logging.getLogger(__name__)

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


def held_out_accuracy(classifier, held_out: Mapping) -> float:
    """The classifier's accuracy on a held-out shard (``images`` in [0, 1], ``labels``)."""
    from hierphase.images.shards import to_model_scale

    predicted = classifier(to_model_scale(held_out["images"]))[0].argmax(1).cpu()
    return float((predicted == held_out["labels"]).float().mean())


def sample_confidence(classifier, samples: torch.Tensor) -> torch.Tensor:
    """The classifier's confidence (largest softmax probability) on each image of ``samples``."""
    from hierphase.images.shards import to_model_scale

    return classifier(to_model_scale(samples))[0].softmax(1).max(1).values.cpu()


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

    return read_shard(path), read_sidecar(path, "record")["record"]


def write_sweep(path, x0_hat: torch.Tensor, clean: Mapping, record: Mapping, *,
                config: Mapping | None = None, seed: int | None = None) -> None:
    from hierphase.images.shards import write_shard

    write_shard(path, x0_hat, clean["labels"], clean["names"], config=config, seed=seed,
                record=dict(record))


# ------------------------------------------------------------------------ patch change correlations
def trajectory_seeds(seed: int, k: int, name: str, n_traj: int) -> list[int]:
    """One seed per forward-backward trajectory of image ``name`` at respaced step ``k``: from the
    job's ``seed`` (the same for every shard), k, the image and the trajectory's index only."""
    return [derive_seed(seed, "images", "correlations", int(k), str(name), j)
            for j in range(int(n_traj))]


def correlation_images(sources: Sequence[Mapping], first: int, start: int, stop: int) -> dict:
    """Images ``start..stop-1`` (positions in the whole sweep set, whose shards hold them in
    order) from the consecutive shards ``sources``, the first of which starts at position
    ``first``: ``{"images", "labels", "names"}``."""
    import torch

    images = torch.cat([s["images"] for s in sources])
    labels = torch.cat([torch.as_tensor(s["labels"]) for s in sources])
    names = [str(n) for s in sources for n in s["names"]]
    lo, hi = start - first, stop - first
    if not 0 <= lo < hi <= len(names):
        raise ValueError(f"images {start}..{stop - 1} are not all in the given shards, which hold "
                         f"{first}..{first + len(names) - 1}")
    return {"images": images[lo:hi], "labels": labels[lo:hi], "names": names[lo:hi]}


def correlation_shard(model, embeddings: Mapping, clean: Mapping, k: int, *, n_traj: int,
                      num_steps: int, seed: int, batch_size: int,
                      progress: bool = True) -> pd.DataFrame:
    """Patch changes of ``n_traj`` forward-backward runs of every image of ``clean`` at respaced
    step ``k``, as per-image pair sums on each embedding's patch grid (``PATCH_PAIR_SUM_COLUMNS``
    of :mod:`hierphase.tables`).

    Each x̂0 is rounded to uint8 as the sweeps save it (so ``k = 0`` gives x̂0 = x0 and zero
    change). Per embedding ``f`` (``embeddings``: name -> callable, :mod:`hierphase.images.embeddings`)
    and trajectory, ``delta_i = ||f_i(x0) - f_i(x̂0)|| / sqrt(D)`` per patch; the connected
    correlations of the deltas over the trajectories of one image are summed per Euclidean
    distance bin of the (open) patch grid (:func:`hierphase.correlations.lattice_pair_sums`).
    The trajectories of several images share a batch when ``batch_size >= 2 n_traj``; every
    trajectory draws its noise from its own seed (:func:`trajectory_seeds`), so the result does
    not depend on how they are batched (up to the rounding of batched network calls).
    """
    import torch

    from hierphase.correlations import continuous_changes, lattice_bins, lattice_pair_sums
    from hierphase.images.diffusion import forward_backward
    from hierphase.images.shards import to_model_scale, to_uint8
    from hierphase.tables import PATCH_PAIR_SUM_COLUMNS

    if int(n_traj) < 2:
        raise ValueError(f"n_traj must be >= 2 to estimate a covariance, got {n_traj}")
    x0 = to_model_scale(clean["images"])
    names = [str(n) for n in clean["names"]]
    z0 = {name: embed(x0) for name, embed in embeddings.items()}
    per_chunk = max(1, int(batch_size) // int(n_traj))
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in embeddings}
    for start in range(0, len(names), per_chunk):
        chunk = names[start:start + per_chunk]
        seeds = [s for name in chunk for s in trajectory_seeds(seed, k, name, n_traj)]
        runs = forward_backward(model, x0[start:start + len(chunk)].repeat_interleave(n_traj, 0),
                                k, seeds, batch_size, progress, num_steps=num_steps)
        record = runs.record()
        x_hat = to_model_scale(to_uint8(runs.x0_hat))
        for emb_name, embed in embeddings.items():
            z_hat = embed(x_hat)
            z_hat = z_hat.reshape(len(chunk), int(n_traj), *z_hat.shape[1:])
            delta = continuous_changes(z0[emb_name][start:start + len(chunk)], z_hat,
                                       feature_axis=-1)  # (images, n_traj, h, w)
            h, w = delta.shape[2:]
            bins = lattice_bins((h, w), periodic=False)
            for i, name in enumerate(chunk):
                frames[emb_name].append(pd.DataFrame({
                    "embedding": emb_name, "name": name, "k": int(record["k"]),
                    "K": int(record["K"]), "t": int(record["t"]),
                    "t_over_T": float(record["t_over_T"]), "grid_h": h, "grid_w": w,
                    "n_traj": int(n_traj), "distance": bins.distance, "r": bins.r,
                    "pair_sum": lattice_pair_sums(delta[i], periodic=False),
                    "delta": float(delta[i].mean())}))
    out = pd.concat([f for name in embeddings for f in frames[name]], ignore_index=True)
    return out[PATCH_PAIR_SUM_COLUMNS]


def aggregate_patch_correlations(shards: Sequence[pd.DataFrame], *, dataset: str, model: str,
                                 classifier: str, n_boot: int, seed: int,
                                 confidence: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-job pair sums -> (``patch_correlations``, ``patch_susceptibility``) tables.

    Per (embedding, k): the images' pair sums (rows in name order) are averaged and bootstrapped
    over images by :func:`hierphase.correlations.summarise`, with one ``seed``: every k and
    embedding resamples the same images. ``delta`` is the mean over images of their mean patch
    change. Rows in the embeddings' order (as the jobs wrote them), then by t."""
    from hierphase.correlations import lattice_bins, summarise
    from hierphase.tables import PATCH_CORRELATIONS_COLUMNS, PATCH_SUSCEPTIBILITY_COLUMNS

    df = pd.concat(shards, ignore_index=True)
    if df.duplicated(["embedding", "name", "k", "distance"]).any():
        raise ValueError("an image appears twice at the same k: overlapping shards")
    ident = {"dataset": dataset, "model": model, "classifier": classifier}
    order = {name: i for i, name in enumerate(pd.unique(df["embedding"]))}
    corr, sus = [], []
    for (embedding, k), g in sorted(df.groupby(["embedding", "k"], sort=False),
                                    key=lambda item: (order[item[0][0]], item[0][1])):
        step = g[["K", "t", "t_over_T", "grid_h", "grid_w", "n_traj"]].drop_duplicates()
        if len(step) != 1:
            raise ValueError(f"embedding {embedding!r} at k={k}: shards disagree on "
                             f"{step.to_dict('records')}")
        step = step.iloc[0]
        h, w, n_traj = int(step["grid_h"]), int(step["grid_w"]), int(step["n_traj"])
        bins = lattice_bins((h, w), periodic=False)
        wide = g.pivot(index="name", columns="distance", values="pair_sum").sort_index()
        wide = wide.reindex(columns=bins.distance)
        if wide.isna().any().any():
            raise ValueError(f"embedding {embedding!r} at k={k}: an image lacks distance bins of "
                             f"the {h}x{w} grid")
        out = summarise(wide.to_numpy(), bins, n_traj, n_boot=n_boot, seed=seed,
                        confidence=confidence)
        keys = {**ident, "embedding": embedding, "k": int(k), "K": int(step["K"]),
                "t": int(step["t"]), "t_over_T": float(step["t_over_T"]), "grid_h": h,
                "grid_w": w}
        corr.append(out.correlations.drop(columns="level").assign(**keys))
        per_image = g.drop_duplicates("name")["delta"]
        sus.append(out.susceptibility.drop(columns="level").assign(**keys,
                                                                   delta=float(per_image.mean())))
    corr = pd.concat(corr, ignore_index=True)[PATCH_CORRELATIONS_COLUMNS]
    sus = pd.concat(sus, ignore_index=True)[PATCH_SUSCEPTIBILITY_COLUMNS]
    return corr, sus


# ------------------------------------------------------------------ one function per workflow job
def digits_split(train_path: str | os.PathLike, held_out_path: str | os.PathLike, *,
                 image_size: int, upsample: str, held_out_fraction: float, seed: int,
                 config: Mapping | None = None) -> tuple[int, int]:
    """Training split (digits): the DDPM's and the classifier's training set and the held-out set
    (:func:`hierphase.images.digits_data.write_digits_split`); returns their sizes."""
    from hierphase.images.digits_data import write_digits_split

    return write_digits_split(train_path, held_out_path, image_size=image_size, upsample=upsample,
                              held_out_fraction=held_out_fraction, seed=seed, config=config)


def digits_data(held_out_path: str | os.PathLike, shard_paths: Sequence[str | os.PathLike], *,
                image_size: int, upsample: str, held_out_fraction: float, n_per_class: int,
                seed: int, config: Mapping | None = None) -> list[int]:
    """Sweep shards (digits): the first ``n_per_class`` held-out images of every class, in uint8
    shards (:func:`hierphase.images.digits_data.write_sweep_shards`); returns the shard sizes."""
    from hierphase.images.digits_data import write_sweep_shards

    return write_sweep_shards(held_out_path, shard_paths, n_per_class=n_per_class,
                              image_size=image_size, upsample=upsample,
                              held_out_fraction=held_out_fraction, seed=seed, config=config)


def imagenet_data(val_dir: str | os.PathLike, labels: str | os.PathLike | None,
                  shard_paths: Sequence[str | os.PathLike], *, n_per_class: int, size: int,
                  seed: int, n_classes: int | None, config: Mapping | None = None) -> list[int]:
    """Data (ImageNet): ``n_per_class`` images per class of ILSVRC2012 val, cropped, in uint8
    shards (:func:`hierphase.images.imagenet.prepare_imagenet`); returns the shard sizes."""
    from hierphase.images.imagenet import prepare_imagenet

    return prepare_imagenet(val_dir, labels, shard_paths, n_per_class=n_per_class, size=size,
                            seed=seed, n_classes=n_classes, config=config)


def train_ddpm(train_path: str | os.PathLike, model_path: str | os.PathLike, train: Mapping, *,
               seed: int, device: str, checkpoint: str | os.PathLike) -> pd.DataFrame:
    """(digits) Train the DDPM on the training split; ``train``: the fields of
    :class:`hierphase.images.ddpm_training.DDPMTrainConfig` (lists become tuples). Writes the
    model to ``model_path``, resumes from ``checkpoint``; returns the loss table."""
    from hierphase.images.ddpm_training import DDPMTrainConfig, train_digits_ddpm
    from hierphase.images.shards import read_shard

    config = DDPMTrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in train.items()})
    return train_digits_ddpm(read_shard(train_path)["images"], model_path, config, seed=seed,
                             device=device, checkpoint=checkpoint)


def train_classifier(train_path: str | os.PathLike, held_out_path: str | os.PathLike,
                     train: Mapping, *, seed: int, device: str,
                     checkpoint: str | os.PathLike) -> tuple[dict, pd.DataFrame]:
    """(digits) Train the digits_cnn classifier; ``train``: the fields of
    :class:`hierphase.images.digits_cnn.ClassifierTrainConfig`. Resumes from ``checkpoint``;
    returns its weights and the held-out accuracy per epoch."""
    from hierphase.images.digits_cnn import ClassifierTrainConfig, train_digits_classifier
    from hierphase.images.shards import read_shard

    return train_digits_classifier(read_shard(train_path), read_shard(held_out_path),
                                   ClassifierTrainConfig(**train), seed=seed, device=device,
                                   checkpoint=checkpoint)


def classifier_statistics(classifier: str, weights: str | os.PathLike | None,
                          shard_paths: Sequence[str | os.PathLike], *, batch_size: int,
                          device: str) -> tuple[dict, int]:
    """Per-layer, per-channel feature statistics of the classifier on the clean images of every
    shard, with the layer names under ``layers``; and the number of images."""
    import torch

    from hierphase.images.classifiers import build_classifier, feature_statistics
    from hierphase.images.shards import read_shard

    clf = build_classifier(classifier, weights, device=device)
    images = torch.cat([read_shard(path)["images"] for path in shard_paths])
    stats = feature_statistics(clf, images, batch_size=batch_size)
    return {**stats, "layers": clf.layer_names}, int(images.shape[0])


def sweep_file(k: int, kind: str, model_path: str | os.PathLike, shard_path: str | os.PathLike,
               sweep_path: str | os.PathLike, *, num_steps: int, seed: int, batch_size: int,
               dtype: str, flags: Mapping | None, device: str,
               config: Mapping | None = None) -> dict:
    """Forward-backward of one image shard at respaced step ``k`` (:func:`sweep_shard`), written
    to ``sweep_path`` (:func:`write_sweep`); returns the step record."""
    from hierphase.images.shards import read_shard

    model = load_sweep_model(k, kind, model_path, device=device, dtype=dtype, flags=flags)
    clean = read_shard(shard_path)
    x0_hat, record = sweep_shard(model, clean, k, num_steps=num_steps, seed=seed,
                                 batch_size=batch_size)
    write_sweep(sweep_path, x0_hat, clean, record, seed=seed, config=config)
    return record


def measure_sweep(classifier: str, weights: str | os.PathLike | None,
                  shard_path: str | os.PathLike, sweep_path: str | os.PathLike,
                  stats_path: str | os.PathLike, *, batch_size: int,
                  device: str) -> tuple[pd.DataFrame, dict]:
    """Class kept and per-layer similarity of one swept shard against its clean images
    (:func:`measure_shard`); returns the table and the sweep's step record."""
    from hierphase.images.classifiers import build_classifier
    from hierphase.images.shards import read_shard
    from hierphase.io import load_tensors

    clf = build_classifier(classifier, weights, device=device)
    swept, record = read_sweep(sweep_path)
    table = measure_shard(clf, read_shard(shard_path), swept, record, load_tensors(stats_path),
                          batch_size=batch_size)
    return table, record


def correlation_sweep(k: int, kind: str, model_path: str | os.PathLike,
                      shard_paths: Sequence[str | os.PathLike], *, first: int,
                      bounds: Sequence[int], embeddings: Mapping, image_size: int,
                      classifier: str, classifier_weights: str | os.PathLike | None, n_traj: int,
                      num_steps: int, seed: int, batch_size: int, dtype: str,
                      flags: Mapping | None, device: str) -> pd.DataFrame:
    """``n_traj`` forward-backward runs of the images ``bounds`` = (start, stop) of the
    consecutive shards ``shard_paths`` (the first starting at position ``first``) at respaced
    step ``k``: per-image pair sums of the patch changes in every embedding of ``embeddings`` (the
    config's specs, :func:`hierphase.images.embeddings.specs_from_config`)."""
    from hierphase.images.embeddings import build_embeddings, specs_from_config
    from hierphase.images.shards import read_shard

    start, stop = bounds
    clean = correlation_images([read_shard(path) for path in shard_paths], first, start, stop)
    model = load_sweep_model(k, kind, model_path, device=device, dtype=dtype, flags=flags)
    embedders = build_embeddings(specs_from_config(embeddings, image_size), classifier=classifier,
                                 classifier_weights=classifier_weights, device=device,
                                 batch_size=batch_size)
    return correlation_shard(model, embedders, clean, k, n_traj=n_traj, num_steps=num_steps,
                             seed=seed, batch_size=batch_size)


def quality(classifier: str, weights: str | os.PathLike | None, kind: str,
            model_path: str | os.PathLike, held_out_path: str | os.PathLike,
            settings: Mapping, *, num_steps: int, seed: int, batch_size: int, dtype: str,
            flags: Mapping | None, dataset: str, model: str,
            device: str) -> tuple[dict, pd.DataFrame]:
    """(digits) The classifier's held-out accuracy and the fraction of the diffusion model's
    unconditional samples it classifies confidently; ``settings``: ``n_samples``, ``confidence``,
    ``min_accuracy``, ``min_confident_fraction``. Returns the samples with their confidences
    (``images``, ``confidence``) and the quality table (:func:`quality_table`)."""
    from hierphase.images.classifiers import build_classifier
    from hierphase.images.shards import read_shard

    clf = build_classifier(classifier, weights, device=device)
    diffusion = load_diffusion_model(kind, model_path, device=device, dtype=dtype, flags=flags)
    held = read_shard(held_out_path)
    accuracy = held_out_accuracy(clf, held)
    samples = unconditional_samples(diffusion, settings["n_samples"], num_steps=num_steps,
                                    seed=seed, batch_size=batch_size)
    confidence = sample_confidence(clf, samples)
    table = quality_table(accuracy=accuracy, n_held_out=len(held["labels"]),
                          confidences=confidence.numpy(), confidence=settings["confidence"],
                          min_accuracy=settings["min_accuracy"],
                          min_confident_fraction=settings["min_confident_fraction"],
                          dataset=dataset, model=model, classifier=classifier)
    return {"images": samples, "confidence": confidence}, table
