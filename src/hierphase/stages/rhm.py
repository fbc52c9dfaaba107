"""Glue of the RHM branch of the workflow: one function per stage, on plain Python values.

The science lives in :mod:`hierphase.rhm`, :mod:`hierphase.noise`, :mod:`hierphase.bp`,
:mod:`hierphase.observables` and :mod:`hierphase.theory`; this module only strings it together the
way the workflow's stages need it (batches, shards, tidy tables), so a notebook can run one stage
exactly as the pipeline does. It imports no Snakemake.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hierphase import theory
from hierphase.params import validate_params
from hierphase.phase_diagram import phase_diagram_table
from hierphase.pooling import aggregate_correlations, class_curves, pool_rule_seeds
from hierphase.seeding import derive_seed
from hierphase.tables import (CORRELATION_KEYS, CORRELATIONS_TABLE_COLUMNS, KEPT_COLUMNS,
                              PHASE_KEPT_COLUMNS, SCALING_COLUMNS, SCALING_POINT_COLUMNS,
                              SUSCEPTIBILITY_TABLE_COLUMNS, THEORY_COLUMNS)

if TYPE_CHECKING:
    import torch

    from hierphase.rhm import Rules

__all__ = [
    "KEPT_COLUMNS",
    "THEORY_COLUMNS",
    "draw_rules",
    "draw_data",
    "sweep_shard",
    "aggregate_kept",
    "pool_rule_seeds",
    "theory_levels_table",
    "theory_summary_table",
    "correlation_shard",
    "mean_field_correlations",
    "aggregate_correlations",
    "correlation_exponents",
    "gaussian_field_shard",
    "flat_mixture_shard",
    "random_code_shard",
    "permuted_rhm_shard",
    "control_shard",
    "depth_estimate",
    "CRITICAL_ESTIMATE_COLUMNS",
    "population_replica",
    "population_widths",
    "population_tables",
    "critical_estimates",
    "SAME_RULES_COLUMNS",
    "bp_against_population",
    "same_rules_table",
    "phase_point_sweep",
    "aggregate_phase_sweeps",
    "phase_diagram_table",
    "class_curves",
    "mean_field_class_curves",
    "finite_size_scaling",
]

log = logging.getLogger(__name__)

_KEYS = ["experiment", "model", "process", "L", "rule_seed", "noise", "level"]


def draw_rules(v: int, m: int, s: int, L: int, *, n_classes: int | None, seed: int) -> Rules:
    """Stage 1: the production rules of one RHM (:func:`hierphase.rhm.sample_rules`)."""
    from hierphase import rhm  # torch

    return rhm.sample_rules(v, m, s, L, n_classes=n_classes, seed=seed)


def draw_data(rules: Rules, n_samples: int, *, seed: int) -> list[torch.Tensor]:
    """Stage 2: ``n_samples`` clean data with their whole latent trees
    (:func:`hierphase.rhm.sample_trees`), L+1 tensors, level l of shape (n, s**l)."""
    from hierphase import rhm  # torch

    return rhm.sample_trees(rules, n_samples, seed=seed)


def _batches(n: int, size: int) -> Iterable[tuple[int, slice]]:
    for b, start in enumerate(range(0, n, size)):
        yield b, slice(start, min(start + size, n))


def _point_observables(rules: Rules, trees: Sequence[torch.Tensor], process: str, value: float,
                       seed: int, batch_size: int, schedule) -> tuple[list, list]:
    """Per level, per datum: mean posterior probability of the true latents and fraction of
    latents a posterior sample keeps, at one noise value (batched over data)."""
    import torch

    from hierphase import bp, noise  # torch and numba: only the jobs that run BP load them

    n = trees[0].shape[0]
    probs: list[list[torch.Tensor]] = [[] for _ in range(rules.L + 1)]
    kept: list[list[torch.Tensor]] = [[] for _ in range(rules.L + 1)]
    point_seed = derive_seed(seed, f"{value:.6f}")
    for b, sl in _batches(n, batch_size):
        batch = [t[sl] for t in trees]
        evidence = noise.forward_evidence(process, batch[-1], rules.v, value,
                                          seed=derive_seed(point_seed, b, "noise"), schedule=schedule)
        obs = bp.kept_observables(rules, evidence, batch,
                                  seed=derive_seed(point_seed, b, "posterior"))
        for level in range(rules.L + 1):
            probs[level].append(obs.true_probability[level])
            kept[level].append(obs.kept[level])
    return [torch.cat(p) for p in probs], [torch.cat(k) for k in kept]


def sweep_shard(rules: Rules, trees: Sequence[torch.Tensor], process: str, values: Sequence[float],
                seed: int, batch_size: int, schedule: GaussianSchedule | None = None, *,
                experiment: str = "", rule_seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Forward-backward sweep of one shard of a noise grid with exact BP.

    For every noise value, every datum of ``trees`` is noised once (``process``; the value is eps
    for ``"epsilon"`` and t/T otherwise), BP gives its posterior marginals and one exact posterior
    sample; :func:`hierphase.observables.kept_table` turns them into one row per level
    (``kept_marginal``, ``kept_sampled`` with its Wilson interval over the ``n`` data). Seeds depend
    on ``seed``, the value (6 decimals) and the batch index only, so a value gets the same numbers
    in whichever shard it sits. For time-based processes ``noise`` is the realised ``t/T``.
    """
    from tqdm import tqdm

    from hierphase import noise, observables

    if process != "epsilon" and schedule is None:
        schedule = noise.GaussianSchedule()
    frames = []
    for value in tqdm(list(values), desc=f"{process} L={rules.L}", disable=not progress):
        value = float(value)
        probs, kept = _point_observables(rules, trees, process, value, seed, batch_size, schedule)
        if process == "epsilon":
            t, t_over_t, noise_value = None, None, value
        else:
            t = schedule.step(value)
            t_over_t = noise_value = t / schedule.T
        frame = observables.kept_table(probs, kept, experiment=experiment, process=process,
                                       L=rules.L, rule_seed=rule_seed, noise=noise_value, t=t,
                                       t_over_T=t_over_t, model="bp")
        log.info("%s value=%.6f: class kept %.4f (marginal) %.4f (sampled)", process, value,
                 frame["kept_marginal"].iloc[0], frame["kept_sampled"].iloc[0])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[KEPT_COLUMNS]


def aggregate_kept(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate shard tables into one tidy table, sorted; a noise value present in two shards
    (identical numbers, same seeds) appears once."""
    df = pd.concat(list(frames), ignore_index=True)
    df = df.drop_duplicates(subset=_KEYS, keep="first")
    df = df.sort_values(_KEYS, kind="mergesort").reset_index(drop=True)
    return df[KEPT_COLUMNS]




def theory_levels_table(v: int, m: int, s: int, L: int, points: int,
                        n_classes: int | None = None) -> pd.DataFrame:
    """Mean-field reconstruction of every level of a depth-``L`` tree on an even eps grid."""
    eps = np.linspace(0.0, 1.0, int(points))
    curves = theory.level_reconstruction(eps, v, m, s, L, n_classes=n_classes)
    rows = []
    for level in range(L + 1):
        rows.append(pd.DataFrame({"v": v, "m": m, "s": s, "L": L, "level": level, "eps": eps,
                                  "kept": np.asarray(curves[level], dtype=float)}))
    return pd.concat(rows, ignore_index=True)[THEORY_COLUMNS]


def theory_summary_table(v: int, m: int, s: int) -> pd.DataFrame:
    """One row: the fixed points of the mean-field map, p*, eps*, F'(p*) and nu."""
    eps_star = theory.critical_noise(v, m, s)
    fixed = [float(p) for p in theory.fixed_points(v, m, s)]
    p_star = None if eps_star is None else 1.0 - eps_star * (1.0 - 1.0 / v)
    slope = theory.slope_at_fixed_point(v, m, s) if eps_star is not None else None
    nu = theory.nu(v, m, s) if eps_star is not None else None
    return pd.DataFrame([{
        "v": v, "m": m, "s": s,
        "fixed_points": " ".join(f"{p:.10g}" for p in fixed),
        "p_star": np.nan if p_star is None else float(p_star),
        "eps_star": np.nan if eps_star is None else float(eps_star),
        "slope_at_p_star": np.nan if slope is None else float(slope),
        "nu": np.nan if nu is None else float(nu),
    }])


# ----------------------------------------------------------------------------- phase diagram
def phase_point_sweep(v: int, m: int, s: int, depths: Sequence[int], values: Sequence[float],
                      seed: int, n_samples: int, batch_size: int, n_classes: int | None = None, *,
                      rule_seed: int = 0, experiment: str = "phase_diagram") -> pd.DataFrame:
    """Class curves of one RHM of the phase diagram under the epsilon-process, exact BP.

    For each depth L of ``depths``: rules (:func:`hierphase.rhm.sample_rules`), ``n_samples``
    clean data (:func:`hierphase.rhm.sample_trees`) and a kept sweep over the eps ``values``
    (:func:`sweep_shard`), with seeds derived from ``seed``, the stage and L only. Returns the class
    rows (level 0), :data:`~hierphase.tables.PHASE_KEPT_COLUMNS`."""
    from hierphase import rhm

    n_classes = validate_params(v, m, s, 1, n_classes)
    frames = []
    for L in sorted(int(L) for L in depths):
        rules = rhm.sample_rules(v, m, s, L, n_classes=n_classes,
                                 seed=derive_seed(seed, "rules", L))
        trees = rhm.sample_trees(rules, n_samples, seed=derive_seed(seed, "data", L))
        kept = sweep_shard(rules, trees, "epsilon", values, derive_seed(seed, "sweep", L),
                           batch_size, experiment=experiment, rule_seed=rule_seed)
        frames.append(kept[kept["level"] == 0])
        log.info("v=%d m=%d s=%d L=%d: class kept %s", v, m, s, L,
                 " ".join(f"{k:.3f}" for k in frames[-1]["kept_sampled"]))
    out = pd.concat(frames, ignore_index=True).assign(s=s, v=v, m=m, n_classes=n_classes)
    return out[PHASE_KEPT_COLUMNS]


def aggregate_phase_sweeps(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The phase-diagram sweeps of every point in one table, sorted by point, then as
    :func:`aggregate_kept` (a row measured twice appears once)."""
    keys = ["s", "v", "m", "n_classes"] + _KEYS
    df = pd.concat(list(frames), ignore_index=True).drop_duplicates(subset=keys, keep="first")
    return df.sort_values(keys, kind="mergesort").reset_index(drop=True)[PHASE_KEPT_COLUMNS]


# ----------------------------------------------------------------------------- change correlations
def _with_keys(frame: pd.DataFrame, columns: list[str], **keys) -> pd.DataFrame:
    """``frame`` with identifying columns set from ``keys`` (``L`` and ``rule_seed`` nullable
    integers, ``None`` = missing), in the order ``columns``."""
    frame = frame.copy()
    for name, value in keys.items():
        if name in ("L", "rule_seed"):
            frame[name] = pd.array([value] * len(frame), dtype="Int64")
        else:
            frame[name] = value
    return frame[columns]


def _trajectories(rules: Rules, x0: Sequence[torch.Tensor], process: str, value: float,
                  n_traj: int, seed: int, schedule) -> list[torch.Tensor]:
    """``n_traj`` forward-backward runs of one datum (``x0``: L+1 tensors (1, s**l)): L+1
    tensors (1, n_traj, s**l) of posterior samples. The epsilon-process gives every run the same
    (deterministic) evidence, so one upward pass serves them all; the other processes draw fresh
    noise per run. Masks are independent per leaf (a fixed count of masked leaves would
    anticorrelate the leaves' changes by construction)."""
    from hierphase import bp, noise

    leaves = x0[-1]
    if process == "epsilon":
        evidence = noise.epsilon_evidence(leaves, value, rules.v)
        return bp.sample_posterior(rules, evidence, seed=derive_seed(seed, "posterior"),
                                   n_samples=n_traj)
    evidence = noise.forward_evidence(process, leaves.expand(n_traj, -1), rules.v, value,
                                      seed=derive_seed(seed, "noise"), schedule=schedule,
                                      independent_masks=True)
    samples = bp.sample_posterior(rules, evidence, seed=derive_seed(seed, "posterior"))
    return [x.view(1, n_traj, x.shape[1]) for x in samples]


def _point_correlations(rules: Rules, trees: Sequence[torch.Tensor], process: str, value: float,
                        seed: int, n_traj: int, schedule, n_boot: int):
    """Change-correlation tables of every level at one noise value, and the class kept."""
    from hierphase import correlations

    n_x0 = trees[0].shape[0]
    point_seed = derive_seed(seed, f"{value:.6f}")
    pairs = np.empty((rules.L + 1, n_x0), dtype=object)
    class_kept = np.empty(n_x0)
    for i in range(n_x0):
        x0 = [t[i:i + 1] for t in trees]
        samples = _trajectories(rules, x0, process, value, n_traj, derive_seed(point_seed, i),
                                schedule)
        spins = correlations.tree_change_spins(x0, samples)
        for level, x in enumerate(spins):
            pairs[level, i] = correlations.tree_pair_sums(x[0], rules.s)
        class_kept[i] = (spins[0][0, :, 0] < 0).mean()
    corr, chi = [], []
    boot_seed = derive_seed(point_seed, "bootstrap")
    for level in range(rules.L + 1):
        out = correlations.summarise(np.stack(pairs[level]), correlations.tree_bins(rules.s, level),
                                     n_traj, level=level, n_boot=n_boot, seed=boot_seed)
        corr.append(out.correlations)
        chi.append(out.susceptibility)
    return pd.concat(corr, ignore_index=True), pd.concat(chi, ignore_index=True), class_kept.mean()


def correlation_shard(rules: Rules, trees: Sequence[torch.Tensor], process: str,
                      values: Sequence[float], seed: int, n_x0: int, n_traj: int,
                      schedule: GaussianSchedule | None = None, *, n_boot: int = 1000,
                      experiment: str = "", rule_seed: int = 0,
                      progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of forward-backward with exact BP over one shard of a noise grid.

    The first ``n_x0`` data of ``trees`` are each run ``n_traj`` times through forward-backward
    (``process``; the value is eps for ``"epsilon"`` and t/T otherwise) with exact posterior
    sampling (one BP call per datum: ``n_traj`` rows of evidence at most); :mod:`hierphase.correlations`
    turns the change spins of every level into C by tree distance, chi and xi with bootstrap
    intervals over the x0. Seeds depend on ``seed``, the value (6 decimals) and the datum's index
    only, so a value gets the same numbers in whichever shard it sits.

    Returns the ``correlations`` and ``susceptibility`` tables
    (:data:`~hierphase.tables.CORRELATIONS_TABLE_COLUMNS`,
    :data:`~hierphase.tables.SUSCEPTIBILITY_TABLE_COLUMNS`), ``family = "rhm"``, ``model = "bp"``.
    """
    from tqdm import tqdm

    from hierphase import noise

    if n_x0 > trees[0].shape[0]:
        raise ValueError(f"n_x0 = {n_x0} exceeds the {trees[0].shape[0]} data given")
    if process != "epsilon" and schedule is None:
        schedule = noise.GaussianSchedule()
    trees = [t[:n_x0] for t in trees]
    corr_frames, chi_frames = [], []
    for value in tqdm(list(values), desc=f"correlations {process} L={rules.L}",
                      disable=not progress):
        value = float(value)
        corr, chi, class_kept = _point_correlations(rules, trees, process, value, seed, n_traj,
                                                    schedule, n_boot)
        if process == "epsilon":
            t_over_t, noise_value = np.nan, value
        else:
            t_over_t = noise_value = schedule.step(value) / schedule.T
        keys = dict(family="rhm", experiment=experiment, model="bp", process=process, L=rules.L,
                    rule_seed=rule_seed, noise=noise_value, t_over_T=t_over_t)
        corr_frames.append(_with_keys(corr, CORRELATIONS_TABLE_COLUMNS, **keys))
        chi_frames.append(_with_keys(chi.assign(class_kept=class_kept),
                                     SUSCEPTIBILITY_TABLE_COLUMNS, **keys))
        log.info("%s value=%.6f: class kept %.4f, leaves chi %.3f xi %.3f", process, value,
                 class_kept, chi["chi"].iloc[-1], chi["xi"].iloc[-1])
    return (pd.concat(corr_frames, ignore_index=True),
            pd.concat(chi_frames, ignore_index=True))


def mean_field_correlations(v: int, m: int, s: int, L: int, points: int,
                            n_classes: int | None = None, *,
                            experiment: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean-field pair theory of the leaves (:func:`hierphase.theory.mean_field_correlation_tables`)
    on an even eps grid of ``points`` values in [0, 1], as rows of the correlation tables
    (``model = "mean_field"``, epsilon-process; ``class_kept`` is the mean-field class curve)."""
    eps = np.linspace(0.0, 1.0, int(points))
    corr, chi = theory.mean_field_correlation_tables(eps, v, m, s, L, n_classes=n_classes)
    kept = theory.level_reconstruction(eps, v, m, s, L, n_classes=n_classes)[0]
    chi = chi.assign(class_kept=chi["noise"].map(dict(zip(eps, np.asarray(kept, dtype=float)))))
    keys = dict(family="rhm", experiment=experiment, model="mean_field", process="epsilon", L=L,
                rule_seed=None, t_over_T=np.nan)
    return (_with_keys(corr, CORRELATIONS_TABLE_COLUMNS, **keys),
            _with_keys(chi, SUSCEPTIBILITY_TABLE_COLUMNS, **keys))


def _control_tables(pairs: dict, bins: dict, n_traj: int, n_boot: int, seed: int,
                    class_kept: float, **keys) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables of one noise value of a control from per-x0 pair sums ``pairs[level]`` (level None:
    the only one) in ``bins[level]``."""
    from hierphase import correlations

    corr, chi = [], []
    for level, rows in pairs.items():
        out = correlations.summarise(np.stack(rows), bins[level], n_traj, level=level,
                                     n_boot=n_boot, seed=seed)
        corr.append(out.correlations)
        chi.append(out.susceptibility)
    corr, chi = pd.concat(corr, ignore_index=True), pd.concat(chi, ignore_index=True)
    return (_with_keys(corr, CORRELATIONS_TABLE_COLUMNS, **keys),
            _with_keys(chi.assign(class_kept=class_kept), SUSCEPTIBILITY_TABLE_COLUMNS, **keys))


def gaussian_field_shard(shape: Sequence[int], exponent: float, values: Sequence[float], seed: int,
                         n_x0: int, n_traj: int, schedule: GaussianSchedule, *,
                         n_boot: int = 1000, experiment: str = "gaussian_field",
                         progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of a Gaussian random field (:class:`hierphase.controls.GaussianField`,
    periodic lattice ``shape``, spectrum ``|k|**-exponent``) under the Gaussian DDPM, denoised
    exactly mode by mode: ``n_traj`` runs of each of ``n_x0`` fields per t/T in ``values``; the
    change of a site is ``|z_i - ẑ_i|``; C by lattice distance (periodic). ``family`` =
    ``gaussian_field``; ``L``, ``rule_seed``, ``level`` and ``class_kept`` are missing. The fields
    depend on ``seed`` only, each run on the value and the field's index."""
    from tqdm import tqdm

    from hierphase import controls, correlations

    field = controls.GaussianField(tuple(shape), float(exponent))
    z0 = field.sample(n_x0, seed=derive_seed(seed, "fields"))
    geometry = correlations.lattice_bins(field.shape, periodic=True)
    corr_frames, chi_frames = [], []
    for value in tqdm(list(values), desc="correlations gaussian field", disable=not progress):
        t = schedule.step(float(value))
        point_seed = derive_seed(seed, f"{float(value):.6f}")
        rows = []
        for i in range(n_x0):
            z_hat = field.forward_backward(z0[i:i + 1], schedule, t, n_traj,
                                           seed=derive_seed(point_seed, i))
            changes = correlations.continuous_changes(z0[i:i + 1], z_hat)[0]
            rows.append(correlations.lattice_pair_sums(changes, periodic=True))
        corr, chi = _control_tables(
            {None: rows}, {None: geometry}, n_traj, n_boot, derive_seed(point_seed, "bootstrap"),
            np.nan, family="gaussian_field", experiment=experiment, model="bp",
            process="gaussian", L=None, rule_seed=None, noise=t / schedule.T,
            t_over_T=t / schedule.T)
        corr_frames.append(corr)
        chi_frames.append(chi)
        log.info("gaussian field t/T=%.4f: chi %.3f", t / schedule.T, chi["chi"].iloc[0])
    return pd.concat(corr_frames, ignore_index=True), pd.concat(chi_frames, ignore_index=True)


def flat_mixture_shard(v: int, n_classes: int, d: int, scale: float, process: str,
                       values: Sequence[float], seed: int, n_x0: int, n_traj: int,
                       schedule: GaussianSchedule | None = None, *, n_boot: int = 1000,
                       experiment: str = "flat_mixture",
                       progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of a flat class mixture (:class:`hierphase.controls.FlatMixture`: a
    class, then ``d`` tokens drawn independently from its distribution over ``v`` symbols),
    denoised exactly (class, then tokens): ``n_traj`` runs of each of ``n_x0`` data per value
    (eps, or t/T), masks independent per token. Level 0 is the class, level 1 the tokens (a
    depth-1 tree, ``L = 1``), C of the tokens by their distance on the (open) chain, where it
    should not depend on the distance. ``family`` = ``flat_mixture``. The mixture and the data
    depend on ``seed`` only (the same for every process); each run on the process, the value and
    the datum's index."""
    import torch
    from tqdm import tqdm

    from hierphase import controls, correlations, noise

    if process != "epsilon" and schedule is None:
        schedule = noise.GaussianSchedule()
    mixture = controls.FlatMixture.from_seed(v, n_classes, float(scale), seed=derive_seed(seed, "mixture"))
    classes, tokens = mixture.sample(n_x0, d, seed=derive_seed(seed, "data"))
    bins = {0: correlations.lattice_bins(1, periodic=False),
            1: correlations.lattice_bins(d, periodic=False)}
    corr_frames, chi_frames = [], []
    for value in tqdm(list(values), desc=f"correlations flat mixture {process}",
                      disable=not progress):
        value = float(value)
        point_seed = derive_seed(seed, process, f"{value:.6f}")
        pairs: dict = {0: [], 1: []}
        kept = []
        for i in range(n_x0):
            class_hat, tokens_hat = mixture.forward_backward(
                tokens[i:i + 1], process, value, n_traj, seed=derive_seed(point_seed, i),
                schedule=schedule)
            class_spins = correlations.change_spins(classes[i:i + 1, None],
                                                    class_hat[:, :, None])[0]
            token_spins = correlations.change_spins(tokens[i:i + 1], tokens_hat)[0]
            pairs[0].append(correlations.lattice_pair_sums(class_spins, periodic=False))
            pairs[1].append(correlations.lattice_pair_sums(token_spins, periodic=False))
            kept.append(float((class_hat == classes[i]).to(torch.float64).mean()))
        if process == "epsilon":
            t_over_t, noise_value = np.nan, value
        else:
            t_over_t = noise_value = schedule.step(value) / schedule.T
        corr, chi = _control_tables(
            pairs, bins, n_traj, n_boot, derive_seed(point_seed, "bootstrap"), float(np.mean(kept)),
            family="flat_mixture", experiment=experiment, model="bp", process=process, L=1,
            rule_seed=None, noise=noise_value, t_over_T=t_over_t)
        corr_frames.append(corr)
        chi_frames.append(chi)
        log.info("flat mixture %s value=%.6f: class kept %.4f, tokens chi %.3f", process, value,
                 np.mean(kept), chi["chi"].iloc[-1])
    return pd.concat(corr_frames, ignore_index=True), pd.concat(chi_frames, ignore_index=True)






def random_code_shard(v: int, d: Sequence[int], flip_noise: float, values: Sequence[float], *,
                      seed: int, n_x0: int, n_traj: int, n_boot: int, experiment: str = "random_code",
                      s: int = 2, progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of random codes (:class:`hierphase.controls.RandomCode`), one per
    length ``d`` (each a power of ``s``, binned on the depth-``log_s d`` tree), each with
    :func:`hierphase.controls.code_size` codewords so that the class flips near ``flip_noise`` in
    the annealed estimate; epsilon-process, exact posterior by enumeration. The code of length
    ``d`` and its runs come from ``derive_seed(seed, "d", d)``."""
    from tqdm import tqdm

    from hierphase import controls

    corr, chi = [], []
    for length in tqdm(list(d), desc="correlations random code", disable=not progress):
        length = int(length)
        n_codes = controls.code_size(v, length, float(flip_noise))
        code = controls.RandomCode.from_seed(v, n_codes, length,
                                             seed=derive_seed(seed, "d", length, "code"))
        c, x = controls.random_code_correlations(
            code, values, n_x0=n_x0, n_traj=n_traj, seed=derive_seed(seed, "d", length),
            n_boot=n_boot, s=s, experiment=experiment)
        log.info("random code d=%d: %d codewords over %d symbols", length, n_codes, v)
        corr.append(c)
        chi.append(x)
    return pd.concat(corr, ignore_index=True), pd.concat(chi, ignore_index=True)


def permuted_rhm_shard(rules_path: str, trees_path: str, values: Sequence[float], *, seed: int,
                       n_x0: int, n_traj: int, n_boot: int, rule_seed: int,
                       experiment: str = "permuted_rhm") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of an RHM's leaves binned by their own tree distance and after a fixed
    random permutation of the positions (:func:`hierphase.controls.permuted_leaf_correlations`),
    the first ``n_x0`` data of the experiment's trees, epsilon-process, exact BP posterior
    samples. The permutation comes from ``derive_seed(seed, "permutation")``."""
    from hierphase import controls, rhm

    rules = rhm.load_rules(rules_path)
    trees = rhm.load_trees(trees_path, rules)
    if n_x0 > trees[0].shape[0]:
        raise ValueError(f"n_x0 = {n_x0} exceeds the {trees[0].shape[0]} data given")
    return controls.permuted_leaf_correlations(
        rules, [t[:n_x0] for t in trees], values, n_traj=n_traj, seed=seed,
        permutation_seed=derive_seed(seed, "permutation"), n_boot=n_boot, experiment=experiment,
        rule_seed=rule_seed)


def control_shard(control: str, spec: Mapping, process: str, values: Sequence[float], *,
                  seed: int, schedule: GaussianSchedule, experiment: str,
                  inputs: Mapping[str, str] | None = None,
                  progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of one control, ``control`` =

    - ``gaussian_field`` (:func:`gaussian_field_shard`: ``spec`` gives ``shape`` and
      ``exponent``; the process is the Gaussian DDPM);
    - ``flat_mixture`` (:func:`flat_mixture_shard`: ``v``, ``n_classes`` (None: ``v``), ``d``,
      ``scale``);
    - ``random_code`` (:func:`random_code_shard`: ``v``, the lengths ``d``, ``flip_noise``;
      epsilon-process);
    - ``permuted_rhm`` (:func:`permuted_rhm_shard`: the RHM's ``rules`` and ``trees`` files in
      ``inputs``, its ``rule_seed``; epsilon-process),

    with ``spec``'s ``n_x0``, ``n_traj`` and ``n_boot``."""
    common = dict(seed=seed, n_x0=spec["n_x0"], n_traj=spec["n_traj"], n_boot=spec["n_boot"],
                  experiment=experiment)
    if control in ("random_code", "permuted_rhm") and process != "epsilon":
        raise ValueError(f"the {control} control runs the epsilon-process only, got {process!r}")
    if control == "gaussian_field":
        return gaussian_field_shard(spec["shape"], spec["exponent"], values, schedule=schedule,
                                    progress=progress, **common)
    if control == "flat_mixture":
        return flat_mixture_shard(spec["v"], spec["n_classes"] or spec["v"], spec["d"],
                                  spec["scale"], process, values, schedule=schedule,
                                  progress=progress, **common)
    if control == "random_code":
        return random_code_shard(spec["v"], spec["d"], spec["flip_noise"], values,
                                 progress=progress, **common)
    if control == "permuted_rhm":
        inputs = inputs or {}
        if not {"rules", "trees"} <= set(inputs):
            raise ValueError("the permuted_rhm control needs the RHM's 'rules' and 'trees' files")
        return permuted_rhm_shard(inputs["rules"], inputs["trees"], values,
                                  rule_seed=spec["rule_seed"], **common)
    raise ValueError(f"control must be one of 'gaussian_field', 'flat_mixture', 'random_code', "
                     f"'permuted_rhm', got {control!r}")


def correlation_exponents(correlations: pd.DataFrame, susceptibility: pd.DataFrame,
                          critical: dict[str, tuple[float | None, float | None]], *,
                          seed: int, a_infinite: Mapping[str, float | None] | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Four tables from the pooled correlation tables:

    - the exponents table (:func:`hierphase.scaling.correlation_exponents`: chi peak, a, nu,
      class half-point per family, experiment, model, process and L);
    - the correlation lengths from the collapse of C(r)
      (:func:`hierphase.scaling.collapse_length_table`, exact BP, epsilon-process, every
      experiment with a mean-field eps*), with an ``experiment`` column;
    - the exponent of C fitted per tree level at the chi peak against the fitted window
      (:func:`hierphase.scaling.level_exponents`; ``a_infinite``: experiment -> mean field's
      infinite-depth exponent);
    - the hierarchy's signature beside the controls' (:func:`hierphase.controls.control_summary`:
      class flip, chi peak and its growth with d, decay across tree levels).

    ``critical``: experiment -> (eps*, nu) of mean field (None where there is no transition)."""
    from hierphase import controls, scaling

    exponents = scaling.correlation_exponents(
        susceptibility, correlations, {e: c[0] for e, c in critical.items()},
        nu_mean_field={e: c[1] for e, c in critical.items()}, seed=seed)
    lengths = []
    measured = susceptibility[(susceptibility["model"] == "bp")
                              & (susceptibility["process"] == "epsilon")]
    for experiment, (eps_star, _) in critical.items():
        if eps_star is None or not (measured["experiment"] == experiment).any():
            continue
        table = scaling.collapse_length_table(correlations, susceptibility, experiment, seed=seed)
        lengths.append(table.assign(experiment=experiment))
    lengths = (pd.concat(lengths, ignore_index=True) if lengths
               else pd.DataFrame(columns=["L", "r_max", "peak_noise", *scaling.COLLAPSE_LENGTH_COLUMNS,
                                          "experiment"]))
    lengths = lengths[["experiment"] + [c for c in lengths.columns if c != "experiment"]]
    levels = scaling.level_exponents(correlations, susceptibility, a_infinite=dict(a_infinite or {}))
    signature = controls.control_summary(correlations, susceptibility)
    return exponents, lengths, levels, signature


# ----------------------------------------------------------------------------- depth estimate


def depth_estimate(correlations: pd.DataFrame, susceptibility: pd.DataFrame, *, experiment: str,
                   calibration: Mapping, feature: str = "chi_max",
                   k_fit: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The depth of the RHMs of ``experiment`` read off chi and the first levels of C at the
    chi peak, without their L (:mod:`hierphase.depth`): exact BP, epsilon-process, one RHM per
    (L, rule draw). Those with L in ``calibration["L"]`` and rule draw in
    ``calibration["rule_seeds"]`` calibrate ``L = alpha + beta * feature``; every other one is
    held out and estimated (:func:`hierphase.depth.held_out_estimates`). Returns the estimates
    (one row per RHM) and the calibration with its score (one row)."""
    from hierphase import depth

    def measured(df):
        return df[(df["experiment"] == experiment) & (df["process"] == "epsilon")
                  & (df["model"] == "bp")]

    features = depth.depth_features(measured(correlations), measured(susceptibility),
                                    k_fit=k_fit)
    return depth.held_out_estimates(features, calibration["L"], calibration["rule_seeds"],
                                    feature=feature, k_fit=k_fit, experiment=experiment)


# ----------------------------------------------------------------------------- critical point


#: One row per (experiment, method) of :func:`critical_estimates`.
CRITICAL_ESTIMATE_COLUMNS = ["experiment", "v", "m", "s", "method", "eps_star", "eps_star_err",
                             "nu", "nu_err", "nu_z_vs_population", "detail"]


def population_replica(v: int, m: int, s: int, *, depths: Sequence[int], n_per_value: int,
                       replica: int, seed: int) -> pd.DataFrame:
    """One replica of the population dynamics of BP's messages over freshly drawn rules
    (:func:`hierphase.population.replica_estimates`): its half point at each depth, one row
    per depth, and nu from the slopes' growth at the deepest."""
    from hierphase import population

    return population.replica_estimates(v, m, s, depths=depths, n_per_value=n_per_value,
                                        replicas=[replica], seed=seed)


def population_widths(v: int, m: int, s: int, *, depths: Sequence[int],
                      width_depths: Sequence[int], n_per_value: int, replica: int,
                      seed: int) -> pd.DataFrame:
    """The same replica as :func:`population_replica` (same ``depths`` and ``seed``): its class
    curve's 90-10% width at each of ``width_depths``, one row per depth
    (:func:`hierphase.population.replica_widths`)."""
    from hierphase import population

    return population.replica_widths(v, m, s, depths=depths, width_depths=width_depths,
                                     n_per_value=n_per_value, replicas=[replica], seed=seed)


def population_tables(replicas: Sequence[pd.DataFrame], widths: Sequence[pd.DataFrame] = ()
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The population dynamics' own tables from its replica jobs (the ``replicas`` tables and the
    ``widths`` tables, one per replica job): the summary per point and depth
    (:func:`hierphase.population.summarise_replicas`), each point's half points extrapolated over
    the depth (:func:`hierphase.population.extrapolate_replicas`), the effective nu over every
    window of three depths (:func:`hierphase.population.local_exponents`) and nu from the class
    curve's width over every range of depths (:func:`hierphase.population.width_exponents`;
    empty without widths)."""
    from hierphase import population

    replicas = pd.concat(list(replicas), ignore_index=True)
    widths = list(widths)
    width_fits = (population.width_exponents(pd.concat(widths, ignore_index=True)) if widths
                  else pd.DataFrame(columns=population.WIDTH_EXPONENT_COLUMNS))
    return (population.summarise_replicas(replicas), population.extrapolate_replicas(replicas),
            population.local_exponents(replicas), width_fits)


def critical_estimates(summary: pd.DataFrame, extrapolation: pd.DataFrame,
                       width_fits: pd.DataFrame, scaling_tables: Mapping[str, pd.DataFrame],
                       exponents: pd.DataFrame | None,
                       experiments: Mapping[str, Mapping]) -> pd.DataFrame:
    """Per experiment whose (v, m, s) is one of the population's points, eps* and nu side by
    side (:data:`CRITICAL_ESTIMATE_COLUMNS`), from the population's ``summary``,
    ``extrapolation`` and ``width_fits`` (:func:`population_tables`), exact BP's
    ``scaling_tables`` (by experiment) and the correlation ``exponents``. The methods:

    - ``class-curve width``: exact BP's finite-size scaling of the class curve
      (``scaling_tables[experiment]``, epsilon-process, the half point extrapolated with the
      width's nu);
    - ``class-curve half points, corrected``: the half points with nu free and a correction to
      scaling fitted (:func:`hierphase.finite_size.scaling_fits`), where the depths allow it;
    - ``class-curve width, per rule draw``: the width's nu of each rule draw's own curves,
      averaged (:func:`hierphase.finite_size.per_draw_width_fit`; no eps*): the exponent of one
      RHM, where the pooled curves' is widened by the spread of half points between RHMs;
    - ``correlation lengths``: nu from the collapse of exact BP's C(r) at the deepest L of the
      exponents table (eps* is mean field's there: it is an input of that fit);
    - ``population dynamics, depth D``: the quenched ensemble at its deepest depth D, mean over
      replicas: eps* is the class curve's half point there with infinitely many data, nu the
      growth of the slope from the third level to the escape (the shallower depths enter the
      extrapolation below and the summary);
    - ``population dynamics, half points over depth``: those half points extrapolated over the
      depth as exact BP's are (:func:`hierphase.scaling.extrapolate_eps_star`, four depths or
      more), and ``..., corrected`` with a correction to scaling
      (:func:`hierphase.scaling.fit_with_correction`, five or more);
    - ``population dynamics, class-curve width``: nu from the widths over the width depths
      inside the depth range of exact BP's width fit (the same estimator at the same depths; all
      the width depths when the experiment has no width fit or fewer than two fall inside), and
      ``..., deepest`` over the three deepest width depths (no eps*: a width gives nu only);
    - ``annealed mean field``: :func:`hierphase.theory.critical_noise` and :func:`~hierphase.theory.nu`.

    ``nu_z_vs_population``: (nu - nu of the population's extrapolation, or of its deepest depth
    when there is none) over their errors combined."""
    rows = []
    for name, exp in experiments.items():
        v, m, s = int(exp["v"]), int(exp["m"]), int(exp["s"])
        pops = summary[(summary["v"] == v) & (summary["m"] == m) & (summary["s"] == s)]
        if pops.empty:
            continue
        pops = pops.sort_values("depth")
        deepest = pops.iloc[-1]
        found = []
        bp_width_range = None
        table = scaling_tables.get(name)
        if table is not None:
            fits = table[(table["model"] == "bp") & (table["process"] == "epsilon")]
            bp_width = fits[(fits["estimator"] == "width") & fits["nu"].notna()]
            if not bp_width.empty:
                bp_width_range = (int(bp_width["L_min"].iloc[0]), int(bp_width["L_max"].iloc[0]))
            for estimator, method in (("half_point_width_nu", "class-curve width"),
                                      ("half_point_corrected",
                                       "class-curve half points, corrected")):
                w = fits[(fits["estimator"] == estimator) & fits["nu"].notna()]
                if not w.empty:
                    w = w.iloc[0]
                    found.append((method, w["eps_star"], w["eps_star_err"], w["nu"], w["nu_err"],
                                  f"exact BP, L = {w['L_range']}"))
            w = fits[(fits["estimator"] == "width_per_draw") & fits["nu"].notna()]
            if not w.empty:
                w = w.iloc[0]
                found.append(("class-curve width, per rule draw", np.nan, np.nan, w["nu"],
                              w["nu_err"], f"exact BP, L = {w['L_range']}, each rule draw's "
                              "curves fitted alone, averaged"))
        if exponents is not None:
            e = exponents[(exponents["experiment"] == name) & (exponents["model"] == "bp")
                          & (exponents["process"] == "epsilon") & exponents["nu"].notna()]
            if not e.empty:
                e = e.sort_values("L").iloc[-1]
                found.append(("correlation lengths", np.nan, np.nan, e["nu"], e["nu_err"],
                              f"exact BP, L = {int(e['L'])}, at mean field's eps*"))
        found.append((f"population dynamics, depth {int(deepest['depth'])}",
                      deepest["eps_star"], deepest["eps_star_err"], deepest["nu"],
                      deepest["nu_err"], f"{int(deepest['n_replicas'])} replicas, "
                      f"{int(deepest['n_per_value'])} messages per value"))
        reference = (f"population dynamics, depth {int(deepest['depth'])}", deepest["nu"],
                     deepest["nu_err"])
        extrapolated = extrapolation[(extrapolation["v"] == v) & (extrapolation["m"] == m)
                                     & (extrapolation["s"] == s)]
        for _, fit in extrapolated.iterrows():
            if not np.isfinite(fit["nu"]):
                continue
            corrected = fit["fit"] == "half_points_corrected"
            method = "population dynamics, half points over depth" + (", corrected" if corrected
                                                                        else "")
            found.append((method, fit["eps_star"], fit["eps_star_err"], fit["nu"], fit["nu_err"],
                          f"depths {int(fit['depth_min'])}-{int(fit['depth_max'])}, each of "
                          f"{int(fit['n_fitted'])} replicas extrapolated"
                          + (" with a correction to scaling" if corrected else "")))
            if not corrected:
                reference = (method, fit["nu"], fit["nu_err"])
        found += _population_width_rows(
            width_fits[(width_fits["v"] == v) & (width_fits["m"] == m) & (width_fits["s"] == s)],
            bp_width_range)
        found.append(("annealed mean field", theory.critical_noise(v, m, s), np.nan,
                      theory.nu(v, m, s), np.nan, "infinite depth, exact (no error)"))
        for method, eps, eps_err, nu, nu_err, detail in found:
            z = ((nu - reference[1]) / np.hypot(np.nan_to_num(nu_err), reference[2])
                 if method != reference[0] and np.isfinite(nu) else np.nan)
            rows.append(dict(experiment=name, v=v, m=m, s=s, method=method,
                             eps_star=float(eps), eps_star_err=float(eps_err), nu=float(nu),
                             nu_err=float(nu_err), nu_z_vs_population=float(z), detail=detail))
    return pd.DataFrame(rows, columns=CRITICAL_ESTIMATE_COLUMNS)


def _population_width_rows(fits: pd.DataFrame, bp_range: tuple[int, int] | None) -> list[tuple]:
    """The rows of :func:`critical_estimates` from one point's width exponents: over the width
    depths inside exact BP's width range ``bp_range`` (all of them without one, or with fewer
    than two inside), and over the three deepest."""
    if fits.empty:
        return []
    depths = sorted(set(fits["depth_min"]) | set(fits["depth_max"]))
    inside = [d for d in depths if bp_range and bp_range[0] <= d <= bp_range[1]]
    same = len(inside) >= 2
    span = (inside[0], inside[-1]) if same else (depths[0], depths[-1])
    found = []
    for method, (lo, hi), why in (
            ("population dynamics, class-curve width", span,
             f", exact BP's width over L = {bp_range[0]}-{bp_range[1]}" if same else ""),
            ("population dynamics, class-curve width, deepest", (depths[-3:][0], depths[-1]), "")):
        row = fits[(fits["depth_min"] == lo) & (fits["depth_max"] == hi)]
        if row.empty or (method.endswith("deepest") and (lo, hi) == span):
            continue
        row = row.iloc[0]
        found.append((method, np.nan, np.nan, row["nu"], row["nu_err"],
                      f"depths {lo}-{hi} ({int(row['n_depths'])}), {int(row['n_valid'])} of "
                      f"{int(row['n_replicas'])} replicas{why}"))
    return found


#: One row per RHM of :func:`bp_against_population`.
SAME_RULES_COLUMNS = ["experiment", "v", "m", "s", "L", "rule_seed", "eps_half_bp",
                      "eps_half_bp_err", "eps_half_population", "eps_half_population_err",
                      "n_per_value", "picks", "difference", "z", "grid_bias"]


def bp_against_population(kept: pd.DataFrame, draws: Sequence[Sequence[int]], *, experiment: str,
                          v: int, m: int, s: int, n_classes: int, n_per_value: int, picks: int,
                          seed: int) -> pd.DataFrame:
    """Each RHM of ``experiment`` (``draws``: its ``(L, rule_seed, seed of its rules)``) two ways
    (:data:`SAME_RULES_COLUMNS`):

    - exact BP: the class curve's half point from the experiment's ``kept`` table (model ``bp``,
      epsilon-process, level 0, that rule draw; linear between the grid's noise values, the error
      from the curve's interval: :func:`hierphase.scaling.half_point_error`);
    - population dynamics with that RHM's own rule tables, redrawn from their seed
      (:func:`hierphase.population.half_points` at depth L: infinitely many data), the mean and
      standard error over ``picks`` independent runs of ``n_per_value`` messages per value.

    ``difference`` is exact BP's minus the population's, ``z`` that over their errors combined:
    where the two methods agree RHM by RHM, the spread between the RHMs of one depth is the
    quenched ensemble's, not either method's. ``grid_bias``: what the straight lines between the
    grid's noise values do alone, the half point of the population's own class curve (the mean
    over the runs) on exact BP's grid, read as exact BP's is, minus the population's. NaN where
    the class curve never falls through 1/2."""
    from hierphase.population import half_points, overlaps
    from hierphase.scaling import class_half_point, half_point_error

    curves = kept[(kept["model"] == "bp") & (kept["process"] == "epsilon") & (kept["level"] == 0)]
    rows = []
    for L, rule_seed, rules_seed in draws:
        L, rule_seed = int(L), int(rule_seed)
        c = curves[(curves["L"] == L) & (curves["rule_seed"] == rule_seed)].sort_values("noise")
        bp, bp_err = (half_point_error(c["noise"], c["kept_marginal"], c["ci_low"], c["ci_high"])
                      if len(c) > 1 else (np.nan, np.nan))
        pop = pop_err = grid_bias = np.nan
        if np.isfinite(bp):
            rules = draw_rules(v, m, s, L, n_classes=n_classes, seed=int(rules_seed))
            seeds = [derive_seed(seed, experiment, L, rule_seed, k) for k in range(picks)]
            runs = np.array([half_points(rules, n_per_value, k, [L])[0] for k in seeds])
            pop = float(runs.mean())
            pop_err = float(runs.std(ddof=1) / np.sqrt(picks)) if picks > 1 else np.nan
            grid = c["noise"].to_numpy(float)
            curve = np.mean([overlaps(rules, grid, n_per_value, k)[L] for k in seeds], axis=0)
            grid_bias = class_half_point(grid, curve) - pop
        diff = bp - pop
        err = np.hypot(bp_err, np.nan_to_num(pop_err))
        rows.append(dict(experiment=experiment, v=v, m=m, s=s, L=L, rule_seed=rule_seed,
                         eps_half_bp=float(bp), eps_half_bp_err=float(bp_err),
                         eps_half_population=pop, eps_half_population_err=pop_err,
                         n_per_value=int(n_per_value), picks=int(picks), difference=float(diff),
                         z=float(diff / err) if err > 0 else np.nan,
                         grid_bias=float(grid_bias)))
    return pd.DataFrame(rows, columns=SAME_RULES_COLUMNS)


def same_rules_table(kept: Mapping[str, pd.DataFrame], experiments: Mapping[str, Mapping], *,
                     n_per_value: int, picks: int, seed: int) -> pd.DataFrame:
    """:func:`bp_against_population` for every experiment of ``experiments`` (name -> ``v``,
    ``m``, ``s``, ``n_classes``, ``draws``; ``kept``: name -> its kept table), one table."""
    tables = [bp_against_population(kept[name], e["draws"], experiment=name, v=int(e["v"]),
                                    m=int(e["m"]), s=int(e["s"]), n_classes=int(e["n_classes"]),
                                    n_per_value=n_per_value, picks=picks, seed=seed)
              for name, e in experiments.items()]
    tables = [t for t in tables if not t.empty]
    return (pd.concat(tables, ignore_index=True) if tables
            else pd.DataFrame(columns=SAME_RULES_COLUMNS))


# ----------------------------------------------------------------------------- finite-size scaling


def mean_field_class_curves(curves: dict, v: int, m: int, s: int, n_classes: int) -> dict:
    """The mean-field class curves (:func:`hierphase.theory.class_reconstruction`) at the noise
    values and depths of ``curves`` (epsilon-process), without errors."""
    from hierphase.finite_size import Curve

    return {L: Curve(c.noise, np.asarray(theory.class_reconstruction(c.noise, v, m, s, L,
                                                                     n_classes=n_classes)))
            for L, c in curves.items()}


def finite_size_scaling(kept: pd.DataFrame, *, experiment: str, v: int, m: int, s: int,
                        n_classes: int, processes: Sequence[str], L_min: int,
                        L_max: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``scaling`` table (:data:`hierphase.tables.SCALING_COLUMNS`) and its per-depth points
    (:data:`hierphase.tables.SCALING_POINT_COLUMNS`) of one experiment: for every process,
    exact BP's class curves (:func:`class_curves`) through :func:`hierphase.finite_size.curve_points`
    and :func:`hierphase.finite_size.scaling_fits` over ``L_min <= L <= L_max``; for the
    epsilon-process also the mean-field curves on the same noise values and depths
    (``model == "mean_field"``). Exact BP also gets the ``width_per_draw`` row
    (:func:`hierphase.finite_size.per_draw_width_fit`: the width's ``nu`` of each rule draw's own
    curves, averaged). The points table holds every depth of the kept table, draws pooled (the
    fits only those in range)."""
    from hierphase.finite_size import curve_points, per_draw_width_fit, scaling_fits

    eps_star = theory.critical_noise(v, m, s)
    nu = theory.nu(v, m, s) if eps_star is not None else None
    points, fits = [], []
    for process in processes:
        curves = class_curves(kept, process)
        models = {"bp": curves}
        if process == "epsilon":
            models["mean_field"] = mean_field_class_curves(curves, v, m, s, n_classes)
        for model, model_curves in models.items():
            keys = {"experiment": experiment, "process": process, "model": model}
            p = curve_points(model_curves, n_classes, **keys)
            points.append(p)
            reference = process == "epsilon" and eps_star is not None
            rows = scaling_fits(p, s=s, L_min=L_min, L_max=L_max)
            if model == "bp":
                draws = kept[kept["process"] == process]
                rows.append(per_draw_width_fit(
                    {int(r): curve_points(class_curves(draws[draws["rule_seed"] == r], process),
                                          n_classes)
                     for r in draws["rule_seed"].unique()}, s=s, L_min=L_min, L_max=L_max))
            for row in rows:
                fits.append({**keys, **row,
                             "eps_star_mean_field": eps_star if reference else np.nan,
                             "nu_mean_field": nu if reference else np.nan})
    table = pd.DataFrame(fits)
    table["L_range"] = [f"{lo:.0f}-{hi:.0f}" if np.isfinite(lo) else ""
                        for lo, hi in zip(table["L_min"], table["L_max"])]
    for c in ("L_min", "L_max"):
        table[c] = table[c].astype("Float64").round().astype("Int64")
    table["n_points"] = table["n_points"].astype("int64")
    return table[SCALING_COLUMNS], pd.concat(points, ignore_index=True)[SCALING_POINT_COLUMNS]
