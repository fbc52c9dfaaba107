"""Glue of the learned branch of the workflow: one function per stage, on typed values.

Each function is what one workflow script calls: train a model for (experiment, process, P,
training seed) and write its checkpoint and loss table; load it back; evaluate it; sweep exact BP
on the same noisy states. Seeds are the workflow's (``hierphase.plan``, each branch's ``seed``),
handed over as integers; the functions below only derive sub-seeds from them (network
initialisation, batches). It imports no Snakemake.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
import torch

from hierphase import rhm
from hierphase.io import CorruptFileError, save_torch, write_table
from hierphase.learned.diffusion import make_process
from hierphase.learned.networks import NetworkConfig, build_network
from hierphase.devices import resolve_device
from hierphase.learned.train import WEIGHTS_KEYS, TrainConfig, load_checkpoint, save_weights, train
from hierphase.noise import GaussianSchedule
from hierphase.seeding import derive_seed
from hierphase.stages.rhm import draw_rules

__all__ = [
    "draw_rules",
    "model_name",
    "training_set",
    "train_model",
    "load_model",
    "evaluate_generation",
    "evaluate_sweep",
    "bp_reference",
    "collect_tables",
    "evaluate_curve_point",
    "curve_tables",
    "evaluate_correlations",
    "bp_correlations",
    "collect_correlations",
]


def model_name(arch: str, P: int, train_seed: int) -> str:
    """The ``model`` column of the learned tables: architecture, training-set size and seed."""
    return f"{arch}_P{int(P)}_s{int(train_seed)}"


def training_set(rules, P: int, seed: int) -> torch.Tensor:
    """The ``P`` training data (leaves) drawn with ``seed``; the workflow gives every process of
    one (experiment, P, training seed) the same seed, hence the same data."""
    return rhm.sample_trees(rules, int(P), int(seed))[-1]


def train_model(rules, process: str, schedule: GaussianSchedule, training: TrainConfig, *,
                arch: str, width: int, blocks: int, expansion: int, time_conditioning: bool = True,
                experiment: str, P: int,
                train_seed: int, data_seed: int, seed: int, model_path, loss_parquet,
                loss_csv=None, device: str = "cpu", progress: bool = True,
                stop_after: int | None = None,
                snapshot_paths: Mapping[int, str | os.PathLike] | None = None) -> pd.DataFrame:
    """Train one model and write its checkpoint (``model_path``) and loss table.

    ``data_seed`` draws the training set (:func:`training_set`), ``seed`` the initialisation and
    every draw of the training; ``train_seed`` (the config's training seed) only names the model.
    The model does not depend on how it will be sampled: the process is built without sampling
    steps, and the evaluation stages give theirs to :func:`load_model`.

    While training, checkpoints go to ``<model_path>.resume``; an interrupted job rerun with the
    same values resumes from there. When done, the final checkpoint (weights, optimizer, generator
    state, everything needed to rebuild the model) is moved onto ``model_path``.

    ``snapshot_paths`` (step -> file): the weights at those training steps, each written when
    training is done (:func:`hierphase.learned.train.save_weights`; the meta says its ``step``),
    loadable like the model with :func:`load_model`: a learning curve is evaluated from them
    without training again. They travel in the resume checkpoint, so a resumed run writes the same.
    """
    proc = make_process(process, rules.v, schedule)
    net_cfg = NetworkConfig(in_channels=proc.in_channels, vocab=rules.v, s=rules.s, L=rules.L,
                            width=int(width), blocks=int(blocks), expansion=int(expansion),
                            time_conditioning=bool(time_conditioning))
    torch.manual_seed(derive_seed(seed, "init"))
    net = build_network(arch, net_cfg)
    data = training_set(rules, P, data_seed)
    name = model_name(arch, P, train_seed)
    meta = {"name": name, "arch": arch, "network": net_cfg.to_dict(), "process": process,
            "schedule": asdict(schedule), "experiment": experiment, "P": int(P),
            "seed": int(train_seed), "train_seed": int(seed), "training": training.to_dict()}
    resume = Path(str(model_path) + ".resume")
    snapshot_paths = {int(k): v for k, v in (snapshot_paths or {}).items()}
    result = train(proc, net, data, training, seed, checkpoint=resume,
                   device=resolve_device(device, key="learned.device"), progress=progress, meta=meta,
                   stop_after=stop_after, snapshots=sorted(snapshot_paths))
    table = result.loss_table.assign(experiment=experiment, process=process, model=name, P=int(P),
                                     seed=int(train_seed))
    if not result.finished:
        return table
    for step, path in snapshot_paths.items():
        weights = {k: v.cpu() for k, v in result.snapshots[step].items()}
        save_weights(path, weights, {**meta, "step": step})
    final = load_checkpoint(resume)
    final.pop("snapshots", None)  # the model file holds the final weights only
    save_torch(model_path, final)  # the bytes of the values: a resumed run's equal a whole run's
    resume.unlink()
    config = {key: meta[key] for key in ("process", "arch", "network", "schedule", "training")}
    write_table(table, loss_parquet, loss_csv, config=config, seed=int(seed), model=name)
    return table


def load_model(path, sample_steps: int | None = None, device: str = "cpu"):
    """(process, network in eval mode, meta) from a checkpoint written by :func:`train_model`; the
    process samples in ``sample_steps`` reverse steps (None: the process's default)."""
    state = load_checkpoint(path, keys=WEIGHTS_KEYS)
    meta = state["meta"]
    try:
        schedule = GaussianSchedule(**meta["schedule"])
        proc = make_process(meta["process"], meta["network"]["vocab"], schedule, sample_steps)
        net = build_network(meta["arch"], NetworkConfig(**meta["network"]))
        net.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # RuntimeError: shapes differ
        raise CorruptFileError(f"{path}: its weights do not fit the network its record describes "
                               f"({type(e).__name__}: {e}); delete it and rerun") from None
    return proc, net.to(torch.device(device)).eval(), meta


def evaluate_generation(rules, model_path, n: int, *, sample_steps: int, data_seed: int,
                        seed: int, experiment: str, P: int, train_seed: int,
                        batch_size: int = 1024, device: str = "cpu") -> dict[str, pd.DataFrame]:
    """Evaluation of ``n`` new samples of one trained model, drawn with ``seed``: ``generation``,
    its evaluation-table row (grammaticality; memorisation against the training set drawn with
    ``data_seed``), and ``validity``, its per-level rows."""
    from hierphase.learned.evaluate import generation_tables

    dev = resolve_device(device, key="learned.device")
    proc, net, meta = load_model(model_path, sample_steps, device=str(dev))
    data = training_set(rules, P, data_seed)
    return generation_tables(rules, proc, net, data, int(n), int(seed), experiment, meta["name"],
                             P, train_seed, batch_size=batch_size, device=dev)


def evaluate_curve_point(rules, weights_path, n: int, *, step: int, sample_steps: int,
                         data_seed: int, seed: int, experiment: str, P: int, train_seed: int,
                         batch_size: int = 1024, device: str = "cpu") -> pd.DataFrame:
    """One point of a learning curve: the per-level validity rows (all and novel samples) of
    ``n`` samples of the weights at training step ``step`` (a snapshot or the final model), with
    a ``step`` column."""
    from hierphase.learned.evaluate import LEARNING_CURVE_COLUMNS

    validity = evaluate_generation(rules, weights_path, n, sample_steps=sample_steps,
                                   data_seed=data_seed, seed=seed, experiment=experiment, P=P,
                                   train_seed=train_seed, batch_size=batch_size,
                                   device=device)["validity"]
    return validity.assign(step=int(step))[LEARNING_CURVE_COLUMNS]


def curve_tables(points: Sequence, validity: pd.DataFrame, thresholds: Sequence[float],
                 min_samples: int = 1) -> dict[str, pd.DataFrame]:
    """``learning_curve``: the curve points of every model in one table; ``sample_complexity``:
    per level, the P at which the final models' novel samples (``min_samples`` of them at least)
    reach each validity threshold (:func:`hierphase.learned.curves.sample_complexity`)."""
    from hierphase.io import read_table
    from hierphase.learned.curves import sample_complexity
    from hierphase.learned.evaluate import LEARNING_CURVE_COLUMNS

    curve = pd.concat([read_table(p, "learning_curve") for p in points], ignore_index=True)
    curve = curve.sort_values(["experiment", "process", "P", "seed", "samples", "step", "level"],
                              kind="mergesort").reset_index(drop=True)
    return {"learning_curve": curve[LEARNING_CURVE_COLUMNS],
            "sample_complexity": sample_complexity(validity, thresholds, min_samples=min_samples)}


def evaluate_sweep(rules, model_path, grid: Sequence[float], n: int, *, sample_steps: int,
                   seed: int, experiment: str, P: int, train_seed: int, rule_seed: int,
                   batch_size: int = 1024, device: str = "cpu",
                   progress: bool = True) -> pd.DataFrame:
    """Kept table of one trained model's forward-backward sweep over ``grid`` (t/T values);
    ``seed`` draws the test trees and noisy states (give :func:`bp_reference` the same one)."""
    from hierphase.learned.evaluate import learned_kept_table

    dev = resolve_device(device, key="learned.device")
    proc, net, meta = load_model(model_path, sample_steps, device=str(dev))
    T = int(meta["schedule"]["T"])
    return learned_kept_table(rules, proc, net, grid, int(n), int(seed), T, experiment,
                              meta["name"], P, train_seed, rule_seed, batch_size=batch_size,
                              device=dev, progress=progress)


def bp_reference(rules, process: str, schedule: GaussianSchedule, grid: Sequence[float], n: int, *,
                 seed: int, experiment: str, rule_seed: int,
                 progress: bool = True) -> pd.DataFrame:
    """Exact-BP kept table on the same test trees and noisy states as :func:`evaluate_sweep` with
    the same ``seed``."""
    from hierphase.learned.evaluate import bp_kept_table

    proc = make_process(process, rules.v, schedule)
    return bp_kept_table(rules, proc, grid, int(n), int(seed), schedule.T, experiment, rule_seed,
                         progress=progress)


def evaluate_correlations(rules, model_path, grid: Sequence[float], n_x0: int, n_traj: int, *,
                          n_boot: int, sample_steps: int, seed: int, experiment: str, P: int,
                          train_seed: int, rule_seed: int, batch_size: int = 1024,
                          device: str = "cpu", progress: bool = True):
    """Change-correlation tables (``correlations``, ``susceptibility``) of one trained model:
    ``n_traj`` forward-backward runs of each of ``n_x0`` test data per t/T of ``grid``; ``seed``
    draws the x0 and noisy states (give :func:`bp_correlations` the same one)."""
    from hierphase.learned.evaluate import learned_correlation_tables

    dev = resolve_device(device, key="learned.device")
    proc, net, meta = load_model(model_path, sample_steps, device=str(dev))
    return learned_correlation_tables(
        rules, proc, net, grid, int(n_x0), int(n_traj), int(seed), int(meta["schedule"]["T"]),
        experiment, meta["name"], int(P), int(train_seed), int(rule_seed), n_boot=int(n_boot),
        batch_size=batch_size, device=dev, progress=progress)


def bp_correlations(rules, process: str, schedule: GaussianSchedule, grid: Sequence[float],
                    n_x0: int, n_traj: int, *, n_boot: int, seed: int, experiment: str,
                    rule_seed: int, progress: bool = True):
    """Exact-BP change-correlation tables on the same x0 and noisy states as
    :func:`evaluate_correlations` with the same ``seed``."""
    from hierphase.learned.evaluate import bp_correlation_tables

    proc = make_process(process, rules.v, schedule)
    return bp_correlation_tables(rules, proc, grid, int(n_x0), int(n_traj), int(seed), schedule.T,
                                 experiment, int(rule_seed), n_boot=int(n_boot), progress=progress)


def collect_correlations(correlations, susceptibility) -> dict[str, pd.DataFrame]:
    """The branch's change-correlation tables from the per-model and exact-BP files (sorted, as
    the RHM branch's) and the largest gap between each model's chi(t) of the leaves and exact BP's
    (:func:`hierphase.learned.evaluate.chi_distance`)."""
    from hierphase.io import read_table
    from hierphase.learned.evaluate import chi_distance
    from hierphase.pooling import aggregate_correlations
    from hierphase.tables import (LEARNED_CORRELATIONS_TABLE_COLUMNS,
                                  LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS)

    corr = aggregate_correlations((read_table(p, "learned_correlations") for p in correlations),
                                  LEARNED_CORRELATIONS_TABLE_COLUMNS)
    chi = aggregate_correlations((read_table(p, "learned_susceptibility") for p in susceptibility),
                                 LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS)
    return {"correlations": corr, "susceptibility": chi, "chi_distance": chi_distance(chi)}


def collect_tables(kept, bp, generation, validity, loss) -> dict[str, pd.DataFrame]:
    """The branch's summary tables from the per-model files: kept (learned + bp rows), evaluation,
    per-level validity, distance (learned vs exact class curve per model) and loss."""
    from hierphase.io import read_table
    from hierphase.learned.evaluate import class_distance
    from hierphase.tables import LEARNED_KEPT_COLUMNS

    learned = pd.concat([read_table(p, "learned_kept") for p in kept], ignore_index=True)
    exact = pd.concat([read_table(p, "learned_kept") for p in bp], ignore_index=True)
    sort = ["experiment", "process", "model", "noise", "level"]
    kept_all = pd.concat([exact, learned], ignore_index=True)[LEARNED_KEPT_COLUMNS].sort_values(sort, kind="mergesort")
    evaluation = pd.concat([read_table(p, "evaluation") for p in generation], ignore_index=True)
    evaluation = evaluation.sort_values(["experiment", "process", "P", "seed"], kind="mergesort")
    levels = pd.concat([read_table(p, "validity") for p in validity], ignore_index=True)
    levels = levels.sort_values(["experiment", "process", "P", "seed", "level"], kind="mergesort")
    distance = class_distance(learned, exact).sort_values(["experiment", "process", "P", "seed"], kind="mergesort")
    losses = pd.concat([read_table(p) for p in loss], ignore_index=True)
    return {"kept": kept_all.reset_index(drop=True), "evaluation": evaluation.reset_index(drop=True),
            "validity": levels.reset_index(drop=True),
            "distance": distance.reset_index(drop=True), "loss": losses.reset_index(drop=True)}
