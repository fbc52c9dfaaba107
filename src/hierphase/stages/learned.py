"""From the ``learned`` config section to objects, and whole stages as single calls for the rules.

Each function here is what one workflow script calls: train a model for (experiment, process, P,
seed) and write its checkpoint and loss table; load it back; evaluate it. Seeds derive from the root
seed and the stage's names (:func:`hierphase.seeding.derive_seed`), never from job order.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

from hierphase import noise as hnoise
from hierphase import rhm
from hierphase.io import atomic_path, write_table
from hierphase.seeding import derive_seed
from hierphase.learned.diffusion import make_process
from hierphase.learned.networks import NetworkConfig, build_network
from hierphase.devices import resolve_device
from hierphase.learned.train import TrainConfig, load_checkpoint, train

__all__ = [
    "model_name",
    "process_from_config",
    "train_seed",
    "training_set",
    "train_model",
    "load_model",
    "sweep_seed",
    "evaluate_generation",
    "evaluate_sweep",
    "bp_reference",
    "collect_tables",
]


def model_name(arch: str, P: int, seed: int) -> str:
    """The ``model`` column of the learned tables: architecture, training-set size and seed."""
    return f"{arch}_P{int(P)}_s{int(seed)}"


def process_from_config(name: str, v: int, cfg: Mapping[str, Any]):
    return make_process(name, v, hnoise.schedule_from_config(cfg["schedule"]), int(cfg["sampling"]["steps"][name]))


def train_seed(root_seed: int, experiment: str, process: str, P: int, seed: int) -> int:
    return derive_seed(root_seed, "learned-train", experiment, process, int(P), int(seed))


def training_set(rules, root_seed: int, experiment: str, P: int, seed: int) -> torch.Tensor:
    """The P training data (leaves) for (experiment, P, seed); shared by every process."""
    trees = rhm.sample_trees(rules, int(P), derive_seed(root_seed, "learned-data", experiment, int(P), int(seed)))
    return trees[-1]


def train_model(rules, cfg: Mapping[str, Any], root_seed: int, experiment: str, process: str, P: int, seed: int,
                model_path, loss_parquet, loss_csv=None, device: str | None = None, progress: bool = True,
                stop_after: int | None = None) -> pd.DataFrame:
    """Train one model and write its checkpoint (``model_path``) and loss table.

    While training, checkpoints go to ``<model_path>.resume``; an interrupted job rerun with the same
    config resumes from there. When done, the final checkpoint (weights, optimizer, generator state,
    everything needed to rebuild the model) is moved onto ``model_path``.
    """
    proc = process_from_config(process, rules.v, cfg)
    net_cfg = NetworkConfig(in_channels=proc.in_channels, vocab=rules.v, s=rules.s, L=rules.L,
                            width=int(cfg["network"]["width"]), blocks=int(cfg["network"]["blocks"]),
                            expansion=int(cfg["network"]["expansion"]))
    arch = cfg["network"]["arch"]
    tseed = train_seed(root_seed, experiment, process, P, seed)
    torch.manual_seed(derive_seed(tseed, "init"))
    net = build_network(arch, net_cfg)
    tcfg = TrainConfig(**cfg["training"])
    data = training_set(rules, root_seed, experiment, P, seed)
    name = model_name(arch, P, seed)
    meta = {"name": name, "arch": arch, "network": net_cfg.to_dict(), "process": process,
            "schedule": dict(cfg["schedule"]), "sampling_steps": int(cfg["sampling"]["steps"][process]),
            "experiment": experiment, "P": int(P), "seed": int(seed), "train_seed": tseed, "training": tcfg.to_dict()}
    resume = Path(str(model_path) + ".resume")
    result = train(proc, net, data, tcfg, tseed, checkpoint=resume, device=resolve_device(device or cfg["device"], key="learned.device"),
                   progress=progress, meta=meta, stop_after=stop_after)
    table = result.loss_table.assign(experiment=experiment, process=process, model=name, P=int(P), seed=int(seed))
    if not result.finished:
        return table
    with atomic_path(model_path) as tmp:
        shutil.copyfile(resume, tmp)
    resume.unlink()
    write_table(table, loss_parquet, loss_csv, config=dict(cfg), seed=tseed, model=name)
    return table


def load_model(path, device: str = "cpu"):
    """(process, network in eval mode, meta) from a checkpoint written by :func:`train_model`."""
    state = load_checkpoint(path)
    meta = state["meta"]
    cfg = {"schedule": meta["schedule"], "sampling": {"steps": {meta["process"]: meta["sampling_steps"]}}}
    proc = process_from_config(meta["process"], meta["network"]["vocab"], cfg)
    net = build_network(meta["arch"], NetworkConfig(**meta["network"]))
    net.load_state_dict(state["model"])
    return proc, net.to(torch.device(device)).eval(), meta


def sweep_seed(root_seed: int, experiment: str, process: str) -> int:
    """Seed of the test trees and noisy states of one (experiment, process): the learned models and
    exact BP share it, so they denoise the very same noisy states."""
    return derive_seed(root_seed, "learned-sweep", experiment, process)


def evaluate_generation(rules, model_path, n: int, root_seed: int, experiment: str, P: int, seed: int,
                        batch_size: int = 1024, device: str = "cpu") -> pd.DataFrame:
    """Evaluation-table row of one trained model (grammaticality, memorisation of ``n`` new samples)."""
    from hierphase.learned.evaluate import generation_table

    dev = resolve_device(device, key="learned.device")
    proc, net, meta = load_model(model_path, device=str(dev))
    data = training_set(rules, root_seed, experiment, P, seed)
    gen_seed = derive_seed(root_seed, "learned-generate", experiment, proc.name, int(P), int(seed))
    return generation_table(rules, proc, net, data, int(n), gen_seed, experiment, meta["name"], P, seed,
                            batch_size=batch_size, device=dev)


def evaluate_sweep(rules, model_path, grid, n: int, root_seed: int, experiment: str, P: int, seed: int,
                   rule_seed: int, batch_size: int = 1024, device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    """Kept table of one trained model's forward-backward sweep over ``grid`` (t/T values)."""
    from hierphase.learned.evaluate import learned_kept_table

    dev = resolve_device(device, key="learned.device")
    proc, net, meta = load_model(model_path, device=str(dev))
    T = int(meta["schedule"]["T"])
    return learned_kept_table(rules, proc, net, grid, int(n), sweep_seed(root_seed, experiment, proc.name), T,
                              experiment, meta["name"], P, seed, rule_seed, batch_size=batch_size, device=dev,
                              progress=progress)


def bp_reference(rules, cfg: Mapping[str, Any], process: str, grid, n: int, root_seed: int, experiment: str,
                 rule_seed: int, progress: bool = True) -> pd.DataFrame:
    """Exact-BP kept table on the same test trees and noisy states as :func:`evaluate_sweep`."""
    from hierphase.learned.evaluate import bp_kept_table

    proc = process_from_config(process, rules.v, cfg)
    T = int(cfg["schedule"]["T"])
    return bp_kept_table(rules, proc, grid, int(n), sweep_seed(root_seed, experiment, process), T, experiment,
                         rule_seed, progress=progress)


def collect_tables(kept, bp, generation, loss) -> dict[str, pd.DataFrame]:
    """The branch's summary tables from the per-model files: kept (learned + bp rows), evaluation,
    distance (learned vs exact class curve per model) and loss."""
    from hierphase.io import read_table
    from hierphase.learned.evaluate import class_distance
    from hierphase.tables import LEARNED_KEPT_COLUMNS

    learned = pd.concat([read_table(p) for p in kept], ignore_index=True)
    exact = pd.concat([read_table(p) for p in bp], ignore_index=True)
    sort = ["experiment", "process", "model", "noise", "level"]
    kept_all = pd.concat([exact, learned], ignore_index=True)[LEARNED_KEPT_COLUMNS].sort_values(sort, kind="mergesort")
    evaluation = pd.concat([read_table(p) for p in generation], ignore_index=True)
    evaluation = evaluation.sort_values(["experiment", "process", "P", "seed"], kind="mergesort")
    distance = class_distance(learned, exact).sort_values(["experiment", "process", "P", "seed"], kind="mergesort")
    losses = pd.concat([read_table(p) for p in loss], ignore_index=True)
    return {"kept": kept_all.reset_index(drop=True), "evaluation": evaluation.reset_index(drop=True),
            "distance": distance.reset_index(drop=True), "loss": losses.reset_index(drop=True)}
