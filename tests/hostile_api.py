"""The public API of the science modules and hostile values for its arguments, shared by the
deterministic sweep and the property-based (hypothesis) tiers of ``test_hostile_api.py``.

Each :class:`Case` is a public function with valid arguments (a call that must succeed); a hostile
call replaces one argument by a hostile value. It must then return (the value was acceptable) or
raise ValueError/TypeError whose message names the argument (:func:`judge`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from hierphase import bp, correlations, noise, observables, rhm, seeding, theory

RULES = rhm.sample_rules(4, 2, 2, 2, seed=0)
TREES = rhm.sample_trees(RULES, 3, seed=1)
LEAVES = TREES[-1]
EVIDENCE = noise.epsilon_evidence(LEAVES, 0.3, RULES.v)
MARGINALS = bp.marginals(RULES, EVIDENCE, backend="torch")
SPINS = np.where(np.arange(3 * 4 * 4).reshape(3, 4, 4) % 3 == 0, 1, -1)  # (n_x0, n_traj, sites)
PAIRS = np.array([[4.0, 1.0, 0.5], [3.0, 0.5, 0.2]])


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[..., Any]
    kwargs: Callable[[], dict]  # fresh valid arguments for each call
    #: what a message may call an argument (``data`` for the dict of rules_from_dict, ...)
    aliases: tuple[tuple[str, str], ...] = ()
    #: further exceptions that are the right answer (a path that names no file)
    also: tuple[type, ...] = ()


def _c(name, call, aliases=(), also=(), **kwargs):
    return Case(name, call, lambda: dict(kwargs), aliases, also)


CASES = [
    # rhm
    _c("rhm.sample_rules", rhm.sample_rules, v=4, m=2, s=2, L=2, n_classes=3, seed=0),
    _c("rhm.sample_trees", rhm.sample_trees, rules=RULES, n=3, seed=0),
    _c("rhm.tree_bytes", rhm.tree_bytes, rules=RULES, n=3),
    _c("rhm.n_data", rhm.n_data, rules=RULES),
    _c("rhm.enumerate_data", rhm.enumerate_data, rules=RULES, limit=10_000),
    _c("rhm.parse", rhm.parse, rules=RULES, leaves=LEAVES),
    _c("rhm.level_validity", rhm.level_validity, rules=RULES, leaves=LEAVES),
    _c("rhm.rules_from_dict", rhm.rules_from_dict, data=rhm.rules_to_dict(RULES)),
    _c("rhm.load_rules", rhm.load_rules, source=rhm.rules_to_dict(RULES),
       aliases=(("source", "data"),), also=(FileNotFoundError,)),
    # noise
    _c("noise.epsilon_evidence", noise.epsilon_evidence, leaves=LEAVES, eps=0.3, v=4,
       dtype=torch.float64),
    _c("noise.GaussianSchedule", noise.GaussianSchedule, T=100, kind="linear", beta_start=1e-4,
       beta_end=0.02),
    _c("noise.gaussian_forward", noise.gaussian_forward, leaves=LEAVES, v=4,
       schedule=noise.GaussianSchedule(T=100), t=30, seed=0, dtype=torch.float64),
    _c("noise.gaussian_evidence", noise.gaussian_evidence,
       x_t=noise.gaussian_forward(LEAVES, 4, noise.GaussianSchedule(T=100), 30, 0),
       schedule=noise.GaussianSchedule(T=100), t=30, dtype=torch.float64),
    _c("noise.masking_forward", noise.masking_forward, leaves=LEAVES, fraction=0.5, seed=0,
       independent=False),
    _c("noise.masking_evidence", noise.masking_evidence, leaves=LEAVES,
       mask=torch.zeros(LEAVES.shape, dtype=torch.bool), v=4, dtype=torch.float64),
    _c("noise.uniform_forward", noise.uniform_forward, leaves=LEAVES, v=4, abar=0.5, seed=0),
    _c("noise.uniform_evidence", noise.uniform_evidence, noisy=LEAVES, abar=0.5, v=4,
       dtype=torch.float64),
    _c("noise.forward_evidence", noise.forward_evidence, process="masking", leaves=LEAVES, v=4,
       level=0.5, seed=0, dtype=torch.float64),
    # bp
    _c("bp.marginals", bp.marginals, rules=RULES, log_evidence=EVIDENCE, dtype=torch.float64,
       backend="torch"),
    _c("bp.class_posterior", bp.class_posterior, rules=RULES, log_evidence=EVIDENCE,
       backend="torch"),
    _c("bp.sample_posterior", bp.sample_posterior, rules=RULES, log_evidence=EVIDENCE, seed=0,
       dtype=torch.float64, backend="torch", n_samples=2),
    _c("bp.posterior_uniforms", bp.posterior_uniforms, rules=RULES, n=3, seed=0),
    _c("bp.kept_observables", bp.kept_observables, rules=RULES, log_evidence=EVIDENCE,
       trees=TREES, seed=0, dtype=torch.float64, backend="torch"),
    # theory
    _c("theory.F", theory.F, p=0.7, v=8, m=3, s=2, n_parents=8),
    _c("theory.F_prime", theory.F_prime, p=0.7, v=8, m=3, s=2),
    _c("theory.leaf_weight", theory.leaf_weight, eps=0.3, v=8),
    _c("theory.upward_curve", theory.upward_curve, eps=0.3, v=8, m=3, s=2, L=3, n_classes=8),
    _c("theory.class_reconstruction", theory.class_reconstruction, eps=[0.1, 0.3], v=8, m=3, s=2,
       L=3),
    _c("theory.downward_step", theory.downward_step, q=0.5, p=0.7, v=8, m=3, s=2),
    _c("theory.level_reconstruction", theory.level_reconstruction, eps=0.3, v=8, m=3, s=2, L=3),
    _c("theory.one_is_stable", theory.one_is_stable, v=8, m=3, s=2),
    _c("theory.fixed_points", theory.fixed_points, v=8, m=3, s=2),
    _c("theory.critical_noise", theory.critical_noise, v=8, m=3, s=2),
    _c("theory.nu", theory.nu, v=8, m=3, s=2),
    _c("theory.child_status", theory.child_status, p=0.7, v=8, m=3, s=2),
    _c("theory.pair_change", theory.pair_change, eps=0.3, v=8, m=3, s=2, L=3, level=2),
    _c("theory.mean_field_correlation_tables", theory.mean_field_correlation_tables,
       eps_values=[0.1, 0.3], v=8, m=3, s=2, L=3),
    # observables
    _c("observables.true_latent_probability", observables.true_latent_probability,
       marginals=MARGINALS, trees=TREES),
    _c("observables.kept_indicators", observables.kept_indicators, samples=TREES, trees=TREES),
    _c("observables.kept_fraction", observables.kept_fraction, samples=TREES, trees=TREES),
    _c("observables.kept_table", observables.kept_table, true_prob=None,
       kept=observables.kept_fraction(TREES, TREES), experiment="x", process="epsilon", L=2,
       rule_seed=0, noise=0.3, t=None, t_over_T=None),
    # correlations
    _c("correlations.change_spins", correlations.change_spins, x0=LEAVES,
       x0_hat=LEAVES[:, None].repeat(1, 2, 1)),
    _c("correlations.continuous_changes", correlations.continuous_changes, z0=np.ones((2, 3)),
       z_hat=np.zeros((2, 4, 3))),
    _c("correlations.tree_bins", correlations.tree_bins, s=2, level=2),
    _c("correlations.lattice_bins", correlations.lattice_bins, shape=(3, 3), periodic=True),
    _c("correlations.tree_pair_sums", correlations.tree_pair_sums, spins=SPINS[0], s=2),
    _c("correlations.lattice_pair_sums", correlations.lattice_pair_sums, spins=SPINS[0],
       periodic=False),
    _c("correlations.susceptibility", correlations.susceptibility, pair_sums=PAIRS,
       variant="full"),
    _c("correlations.correlation_length", correlations.correlation_length, pair_sums=PAIRS[0],
       r=np.array([0.0, 1.0, 3.0])),
    _c("correlations.summarise", correlations.summarise, pair_sums=PAIRS,
       bins=correlations.tree_bins(2, 2), n_traj=4, level=2, n_boot=20, seed=0,
       confidence=0.9, variant="full"),
    _c("correlations.tree_correlations", correlations.tree_correlations, spins={2: SPINS}, s=2,
       n_boot=20, seed=0, confidence=0.9),
    _c("correlations.lattice_correlations", correlations.lattice_correlations, spins=SPINS,
       periodic=True, n_boot=20, seed=0, confidence=0.9),
    # seeding
    _c("seeding.torch_generator", seeding.torch_generator, seed=5),
    _c("seeding.numpy_generator", seeding.numpy_generator, seed=5),
]

#: Hostile values of every family of issue 23: floats where ints are meant (whole or not), bools,
#: NaN and infinities, negatives, huge numbers, empty and wrongly typed arrays, float and bool
#: arrays where integers are meant, integer dtypes where floats are meant, strings, None,
#: malformed containers.
HOSTILE = [
    0.0, 1.0, 2.0, 2.5, -1.0, math.nan, math.inf, -math.inf, 1e300,
    -1, 0, 1, 2**70, -(2**70), True, False,
    None, "", "2", [], {}, (), [[]], {"v": 4},
    np.float64(3.0), np.int64(3), np.nan,
    torch.tensor([]), torch.zeros((0, 4), dtype=torch.long), torch.zeros((0, 4)),
    LEAVES.double(), LEAVES.double() + 0.5, LEAVES.bool(), torch.full((3, 4), math.nan),
    np.full((2, 3), np.nan), np.zeros((2, 3)), np.array(["a", "b"]), torch.int64, torch.bool,
    torch.float16, "float64", object(),
]


def argument_named(message: str, name: str, aliases=()) -> bool:
    """Whether ``message`` names argument ``name`` (as a word, or one of its aliases)."""
    names = [name, *(alias for arg, alias in aliases if arg == name)]
    return any(re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", message) for n in names)


def judge(case: Case, name: str, value) -> str | None:
    """Call ``case`` with argument ``name`` replaced by ``value``: None when the outcome is
    acceptable (a result, or ValueError/TypeError naming the argument), else what went wrong."""
    kwargs = case.kwargs()
    kwargs[name] = value
    try:
        case.call(**kwargs)
    except case.also:
        return None
    except (ValueError, TypeError) as err:
        if argument_named(str(err), name, case.aliases):
            return None
        return f"{case.name}({name}={value!r}): {type(err).__name__} not naming {name!r}: {err}"
    except Exception as err:  # noqa: BLE001 - any other kind is the finding
        return f"{case.name}({name}={value!r}): {type(err).__name__}: {err}"
    return None
