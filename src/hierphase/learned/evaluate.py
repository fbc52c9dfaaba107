"""Evaluation of trained denoisers: generation quality and forward-backward sweeps next to exact BP.

* :func:`generation_tables` -- samples from pure noise, parsed with the grammar (:func:`hierphase.rhm.parse`):
  the fraction that is grammatical (every tuple a valid rule at every level) and the fraction that is
  an exact copy of a training datum (memorisation); and, per level, the same samples' validity
  (:func:`validity_table`: which levels of the grammar the samples follow).
* :func:`sweep_states` -- the shared input of both sweeps: test trees and, per noise level, their
  noisy state from the core's forward process, with seeds derived from names only. The learned and
  the exact-BP sweep of one experiment and process see *the same* noisy states.
* :func:`learned_kept_table` -- forward-backward with the learned reverse process, the new sample
  parsed into its latent tree, per-level kept fractions (a latent without a valid parent counts as not
  kept; the fraction of such latents is ``invalid_rate``).
* :func:`bp_kept_table` -- the same sweep with exact BP (posterior marginals and posterior samples).
* :func:`class_distance` -- max over t of |learned class kept - exact BP class kept|.
* :func:`learned_correlation_tables`, :func:`bp_correlation_tables` -- change correlations
  (:mod:`hierphase.correlations`): ``n_traj`` forward-backward runs of each of ``n_x0`` test data
  per noise level, the same noisy states for the learned reverse process and exact BP's posterior
  samples; change spins on the leaves and on the latents of the parse of every run's output.
* :func:`chi_distance` -- per model, the largest gap between its chi(t) and exact BP's.

Every kept table has the columns :data:`hierphase.tables.LEARNED_KEPT_COLUMNS` (the RHM branch's
kept-table columns plus three), the correlation tables
:data:`hierphase.tables.LEARNED_CORRELATIONS_TABLE_COLUMNS` and
:data:`hierphase.tables.LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS` (the RHM branch's plus three).

Change correlations of a learned model, where its output does not parse. Leaves: every run
enters. Latent levels 0..L-1: only the runs whose output parses (a grammatical x̂0, whose latent
tree is the unique parse), each x0's correlations from its own such runs; an x0 with fewer than 2
of them is left out of those levels (``n_x0`` of their rows counts the x0 that entered). The
fraction of runs that parse is the ``valid_fraction`` column (1 for exact BP, whose samples are
trees of the grammar). ``class_kept`` counts a run without a valid class as not kept, as the kept
table does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from hierphase import bp, observables, rhm
from hierphase.seeding import derive_seed
from hierphase.stats import wilson_interval
from hierphase.tables import (EVAL_COLUMNS, LEARNED_CORRELATIONS_TABLE_COLUMNS,
                              LEARNED_KEPT_COLUMNS, LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS,
                              LEARNING_CURVE_COLUMNS, VALIDITY_COLUMNS)

__all__ = [
    "EVAL_COLUMNS",
    "VALIDITY_COLUMNS",
    "LEARNING_CURVE_COLUMNS",
    "SweepState",
    "memorized_mask",
    "generate",
    "generation_tables",
    "validity_table",
    "sweep_states",
    "learned_kept_table",
    "bp_kept_table",
    "class_distance",
    "learned_correlation_tables",
    "bp_correlation_tables",
    "chi_distance",
]



def _row_keys(leaves: torch.Tensor) -> list[bytes]:
    arr = np.ascontiguousarray(leaves.cpu().numpy().astype(np.int32))
    return [row.tobytes() for row in arr]


def memorized_mask(generated: torch.Tensor, train_leaves: torch.Tensor) -> torch.Tensor:
    """BoolTensor ``(n,)``: generated datum ``i`` is an exact copy of some training datum."""
    train = set(_row_keys(train_leaves))
    return torch.tensor([key in train for key in _row_keys(generated)], dtype=torch.bool)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def _reverse(process, net, state: torch.Tensor, level: float, seed: int, batch_size: int,
             device: torch.device) -> torch.Tensor:
    """The learned reverse process from ``state`` at ``level`` to clean leaves, in chunks, on ``device``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    out = [process.sample(net, state[sl].to(device), level, generator).cpu() for sl in _chunks(state.shape[0], batch_size)]
    return torch.cat(out)


@torch.no_grad()
def generate(process, net, n: int, d: int, seed: int, batch_size: int = 1024, device="cpu") -> torch.Tensor:
    """``n`` new data (leaves ``(n, d)``) from the process's full-noise prior through the learned reverse process."""
    device = torch.device(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(derive_seed(seed, "prior")))
    prior = torch.cat([process.prior(sl.stop - sl.start, d, generator, device).cpu() for sl in _chunks(n, batch_size)])
    return _reverse(process, net, prior, 1.0, derive_seed(seed, "reverse"), batch_size, device)


def validity_table(rules, leaves: torch.Tensor, *, experiment: str, process: str, model: str,
                   P: int, seed: int, samples: str = "all") -> pd.DataFrame:
    """Per-level validity of data ``leaves`` (n, d), one row per level l = 0 .. L-1
    (:func:`hierphase.rhm.level_validity`):

    * ``tuples_valid``: of the tuples of level l + 1 whose own parse below is valid (all of them at
      the leaves), the fraction that are rules of level l; ``n_tuples`` of them. The Wilson
      interval treats them as independent, which tuples of one datum are not: read it as a floor
      on the uncertainty;
    * ``valid_up_to``: the fraction of data whose parse is valid from the leaves up to level l
      (at l = 0 the grammatical fraction), with its Wilson interval over data.
    """
    counts = rhm.level_validity(rules, leaves)
    n = counts.n
    checked, valid, up_to = (x.numpy() for x in (counts.checked, counts.rules, counts.valid_up_to))
    tuple_low, tuple_high = wilson_interval(valid, checked)
    up_low, up_high = wilson_interval(up_to, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        tuples_valid = np.where(checked > 0, valid / np.maximum(checked, 1), np.nan)
    return pd.DataFrame({
        "experiment": experiment, "process": process, "model": model, "P": int(P), "seed": int(seed),
        "samples": samples, "level": np.arange(rules.L), "tuples_valid": tuples_valid,
        "tuples_valid_ci_low": tuple_low, "tuples_valid_ci_high": tuple_high,
        "n_tuples": checked.astype(np.int64), "valid_up_to": up_to / n if n else np.nan,
        "valid_up_to_ci_low": up_low, "valid_up_to_ci_high": up_high, "n_samples": int(n),
    }, columns=VALIDITY_COLUMNS)


def generation_tables(rules, process, net, train_leaves: torch.Tensor, n: int, seed: int, experiment: str,
                      model: str, P: int, train_seed: int, batch_size: int = 1024,
                      device="cpu") -> dict[str, pd.DataFrame]:
    """``n`` samples from pure noise, evaluated twice: ``generation``, one row of grammaticality
    and memorisation; ``validity``, one row per level (:func:`validity_table`) for all samples and
    one for the novel ones (not a copy of a training datum)."""
    generated = generate(process, net, n, rules.d, seed, batch_size=batch_size, device=device)
    valid = rhm.parse(rules, generated).valid.cpu()
    copies = memorized_mask(generated, train_leaves)
    k = int(valid.sum())
    low, high = wilson_interval(k, n)
    generation = pd.DataFrame([{
        "experiment": experiment, "process": process.name, "model": model, "P": int(P), "seed": int(train_seed),
        "grammatical": k / n, "grammatical_ci_low": float(low), "grammatical_ci_high": float(high),
        "memorized": float(copies.float().mean()),
        "memorized_of_grammatical": float(copies[valid].float().mean()) if k else math.nan,
        "distinct_generated": len(set(_row_keys(generated))) / n,
        "n_generated": int(n), "n_train_distinct": len(set(_row_keys(train_leaves))),
    }], columns=EVAL_COLUMNS)
    keys = dict(experiment=experiment, process=process.name, model=model, P=P, seed=train_seed)
    validity = pd.concat([validity_table(rules, generated.cpu(), **keys, samples="all"),
                          validity_table(rules, generated.cpu()[~copies], **keys, samples="novel")],
                         ignore_index=True)
    return {"generation": generation, "validity": validity}


@dataclass(frozen=True)
class SweepState:
    level: float
    t: int
    trees: list
    state: torch.Tensor


def sweep_states(rules, process, levels: Sequence[float], n: int, seed: int, T: int,
                 n_traj: int = 1) -> Iterator[SweepState]:
    """Test trees (one draw, shared by every level) and their noisy state at each level t/T.

    ``n_traj > 1`` (change correlations): the state holds ``n_traj`` runs of each datum, rows
    ``i * n_traj .. (i + 1) * n_traj - 1`` for datum ``i``, each noised on its own, leaf by leaf
    (independent masks: a fixed count of masked leaves would anticorrelate their changes)."""
    trees = rhm.sample_trees(rules, n, derive_seed(seed, "trees"))
    leaves = trees[-1].repeat_interleave(n_traj, 0) if n_traj > 1 else trees[-1]
    for level in levels:
        level = float(level)
        state = process.noise(leaves, level, derive_seed(seed, "noise", round(level, 9)),
                              independent=n_traj > 1)
        yield SweepState(level=level, t=int(round(level * T)), trees=trees, state=state)


def _kept_rows(experiment, model, process_name, rules, rule_seed, st: SweepState, T: int, latents,
               true_prob, P, train_seed) -> pd.DataFrame:
    """Rows of the shared kept table (:func:`hierphase.observables.kept_table`) plus, per level, the
    fraction of latents without a valid parent (``invalid_rate``; such latents count as not kept)."""
    kept = observables.kept_indicators(latents, st.trees)
    frame = observables.kept_table(true_prob, kept, experiment=experiment, process=process_name, L=rules.L,
                                   rule_seed=rule_seed, noise=st.t / T, t=st.t, t_over_T=st.t / T, model=model)
    frame["invalid_rate"] = [float((lat < 0).double().mean()) for lat in latents]
    frame["P"] = P
    frame["seed"] = train_seed
    return frame[LEARNED_KEPT_COLUMNS]


def learned_kept_table(rules, process, net, levels: Sequence[float], n: int, seed: int, T: int, experiment: str,
                       model: str, P: int, train_seed: int, rule_seed: int, batch_size: int = 1024,
                       device="cpu", progress: bool = False) -> pd.DataFrame:
    """Forward-backward sweep with the learned reverse process; new samples parsed into latents.

    ``kept_marginal`` is filled at the leaf level only: the network's predicted probability of the
    true leaf given the noisy state (the learned counterpart of BP's leaf marginal); NaN above.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    rows = []
    for st in tqdm(list(sweep_states(rules, process, levels, n, seed, T)), disable=not progress, desc=f"sweep {model}"):
        new = _reverse(process, net, st.state, st.level, derive_seed(seed, "reverse", model, round(st.level, 9)),
                       batch_size, device)
        latents = rhm.parse(rules, new).latents
        with torch.no_grad():
            probs = torch.cat([process.leaf_probs(net, st.state[sl].to(device), st.level).cpu()
                               for sl in _chunks(n, batch_size)])
        leaf_prob = probs.gather(-1, st.trees[-1][..., None]).squeeze(-1).double()
        true_prob = [torch.full(t.shape, math.nan, dtype=torch.float64) for t in st.trees[:-1]] + [leaf_prob]
        rows.append(_kept_rows(experiment, model, process.name, rules, rule_seed, st, T, latents, true_prob, P,
                               train_seed))
    return pd.concat(rows, ignore_index=True)


def bp_kept_table(rules, process, levels: Sequence[float], n: int, seed: int, T: int, experiment: str,
                  rule_seed: int, progress: bool = False) -> pd.DataFrame:
    """The same sweep (same trees, same noisy states) with exact BP: marginals and posterior samples."""
    from tqdm.auto import tqdm

    rows = []
    for st in tqdm(list(sweep_states(rules, process, levels, n, seed, T)), disable=not progress, desc="sweep bp"):
        evidence = process.evidence(st.state, st.level)
        marginals = bp.marginals(rules, evidence)
        samples = bp.sample_posterior(rules, evidence, derive_seed(seed, "posterior", round(st.level, 9)))
        true_prob = observables.true_latent_probability(marginals, st.trees)
        rows.append(_kept_rows(experiment, "bp", process.name, rules, rule_seed, st, T, samples, true_prob,
                               math.nan, math.nan))
    return pd.concat(rows, ignore_index=True)


def class_distance(learned: pd.DataFrame, exact: pd.DataFrame, reference: str = "kept_marginal") -> pd.DataFrame:
    """Per (experiment, process, model, P, seed): max over t of |learned class kept - exact BP class kept|.

    The learned curve is ``kept_sampled`` at level 0; the exact curve is BP's ``reference`` column
    (its posterior marginal by default: the same expectation without sampling noise).
    """
    keys = ["experiment", "process", "noise"]
    ex = exact[exact["level"] == 0][keys + [reference]].rename(columns={reference: "bp"})
    le = learned[learned["level"] == 0]
    merged = le.merge(ex, on=keys, how="inner")
    merged["abs_diff"] = (merged["kept_sampled"] - merged["bp"]).abs()
    group = ["experiment", "process", "model", "P", "seed"]
    out = merged.groupby(group, dropna=False).agg(max_abs_diff=("abs_diff", "max"),
                                                  mean_abs_diff=("abs_diff", "mean"),
                                                  n_noise=("abs_diff", "size")).reset_index()
    worst = merged.loc[merged.groupby(group, dropna=False)["abs_diff"].idxmax(), group + ["noise"]]
    return out.merge(worst.rename(columns={"noise": "noise_at_max"}), on=group, how="left")


# ----------------------------------------------------------------------------- change correlations
def _correlation_rows(experiment, model, process_name, rules, rule_seed, st: SweepState, T: int,
                      runs: Sequence[torch.Tensor], valid: torch.Tensor, seed: int, n_traj: int,
                      n_boot: int, P, train_seed) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Correlation and susceptibility rows of one noise level from the runs' trees ``runs``
    (L+1 tensors ``(n_x0 * n_traj, s**l)``, -1 where a latent has no valid parse) and ``valid``
    (``(n_x0 * n_traj,)``: the run's output parses). The bootstrap seed depends on ``seed`` and
    the level only: a learned model and exact BP on the same x0 resample the same x0."""
    from hierphase import correlations

    n_x0 = st.trees[0].shape[0]
    spins = correlations.tree_change_spins(st.trees, [x.view(n_x0, n_traj, -1) for x in runs])
    boot = derive_seed(seed, "bootstrap", round(st.level, 9))
    latents = correlations.tree_correlations(dict(enumerate(spins[:-1])), rules.s, n_boot=n_boot,
                                             seed=boot, runs=valid.view(n_x0, n_traj).numpy())
    leaves = correlations.tree_correlations({rules.L: spins[-1]}, rules.s, n_boot=n_boot, seed=boot)
    keys = {"family": "rhm", "experiment": experiment, "model": model, "process": process_name,
            "L": rules.L, "rule_seed": int(rule_seed),
            "noise": st.t / T, "t_over_T": st.t / T, "valid_fraction": float(valid.double().mean()),
            "P": P, "seed": train_seed}
    corr = pd.concat([latents.correlations, leaves.correlations], ignore_index=True).assign(**keys)
    chi = pd.concat([latents.susceptibility, leaves.susceptibility], ignore_index=True).assign(
        class_kept=float((spins[0] < 0).mean()), **keys)
    for frame in (corr, chi):
        frame[["L", "rule_seed"]] = frame[["L", "rule_seed"]].astype("Int64")
    return corr[LEARNED_CORRELATIONS_TABLE_COLUMNS], chi[LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS]


def _concat_tables(rows: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    corr, chi = zip(*rows)
    return pd.concat(corr, ignore_index=True), pd.concat(chi, ignore_index=True)


def learned_correlation_tables(rules, process, net, levels: Sequence[float], n_x0: int, n_traj: int,
                               seed: int, T: int, experiment: str, model: str, P: int,
                               train_seed: int, rule_seed: int, n_boot: int = 1000,
                               batch_size: int = 1024, device="cpu",
                               progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change correlations of the learned reverse process: ``n_traj`` runs of each of ``n_x0``
    test data per level t/T (:func:`sweep_states` with ``n_traj``), every output parsed into its
    latent tree (module docstring: what enters where the parse fails). Returns the
    ``correlations`` and ``susceptibility`` tables; :func:`bp_correlation_tables` with the same
    ``seed`` sees the same x0 and the same noisy states."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    rows = []
    for st in tqdm(list(sweep_states(rules, process, levels, n_x0, seed, T, n_traj)),
                   disable=not progress, desc=f"correlations {model}"):
        new = _reverse(process, net, st.state, st.level,
                       derive_seed(seed, "reverse", model, round(st.level, 9)), batch_size, device)
        parsed = rhm.parse(rules, new)
        rows.append(_correlation_rows(experiment, model, process.name, rules, rule_seed, st, T,
                                      parsed.latents, parsed.valid, seed, n_traj, n_boot, P,
                                      train_seed))
    return _concat_tables(rows)


def bp_correlation_tables(rules, process, levels: Sequence[float], n_x0: int, n_traj: int,
                          seed: int, T: int, experiment: str, rule_seed: int, n_boot: int = 1000,
                          progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The change correlations of :func:`learned_correlation_tables` (same ``seed``: same x0,
    same noisy states) with exact BP: one posterior sample per noisy state
    (:func:`hierphase.bp.sample_posterior`), ``model = "bp"``."""
    from tqdm.auto import tqdm

    rows = []
    for st in tqdm(list(sweep_states(rules, process, levels, n_x0, seed, T, n_traj)),
                   disable=not progress, desc="correlations bp"):
        samples = bp.sample_posterior(rules, process.evidence(st.state, st.level),
                                      derive_seed(seed, "posterior", round(st.level, 9)))
        valid = torch.ones(samples[0].shape[0], dtype=torch.bool)
        rows.append(_correlation_rows(experiment, "bp", process.name, rules, rule_seed, st, T,
                                      samples, valid, seed, n_traj, n_boot, math.nan, math.nan))
    return _concat_tables(rows)


def chi_distance(susceptibility: pd.DataFrame, level: int | None = None) -> pd.DataFrame:
    """Per (experiment, process, model, P, seed): the largest gap over t/T between a learned
    model's chi and exact BP's on the same x0, at ``level`` (None: the leaves, level L).

    ``gap`` = chi_model - chi_bp at the t/T of the largest ``|gap|`` (``noise_at_max``),
    ``gap_err`` the half-widths of the two 95% bootstrap intervals added in quadrature (both
    resample the same x0, so this overstates the error of the difference), ``mean_abs_gap`` the
    mean of ``|gap|`` over the t/T where both are defined."""
    df = susceptibility
    if level is None:
        df = df[df["level"] == df["L"]]
    else:
        df = df[df["level"] == level]
    keys = ["experiment", "process", "noise", "level"]
    half = (df["chi_hi"] - df["chi_lo"]) / 2
    df = df.assign(half=half)
    exact = df[df["model"] == "bp"][keys + ["chi", "half"]].rename(
        columns={"chi": "chi_bp", "half": "half_bp"})
    merged = df[df["model"] != "bp"].merge(exact, on=keys, how="inner")
    merged = merged[merged["chi"].notna() & merged["chi_bp"].notna()]
    merged["gap"] = merged["chi"] - merged["chi_bp"]
    merged["gap_err"] = np.sqrt(merged["half"] ** 2 + merged["half_bp"] ** 2)
    group = ["experiment", "process", "model", "P", "seed", "level"]
    worst = merged.loc[merged["gap"].abs().groupby([merged[g] for g in group],
                                                   dropna=False).idxmax()]
    worst = worst[group + ["noise", "chi", "chi_bp", "gap", "gap_err"]].rename(
        columns={"noise": "noise_at_max"})
    mean = merged.assign(abs_gap=merged["gap"].abs()).groupby(group, dropna=False).agg(
        mean_abs_gap=("abs_gap", "mean"), n_noise=("abs_gap", "size")).reset_index()
    return worst.merge(mean, on=group, how="left").sort_values(group, kind="mergesort") \
        .reset_index(drop=True)
