"""Column layouts of every table the package writes, in one torch-free place: the registry
:data:`TABLES` (name -> columns) with each column's kind (:func:`column_kind`), and the check every
reader runs (:func:`check_table`, through :func:`hierphase.io.read_table`).

The sweep shards and the aggregated kept table use ``KEPT_COLUMNS``; the learned branch's kept
tables (learned models and their exact-BP reference) add three columns, ``LEARNED_KEPT_COLUMNS``; the mean-field tables use ``THEORY_COLUMNS``; the change-correlation tables (exact BP, mean field and the
non-hierarchical controls) use ``CORRELATIONS_TABLE_COLUMNS`` and ``SUSCEPTIBILITY_TABLE_COLUMNS``, the
learned branch's add three columns (``LEARNED_CORRELATIONS_TABLE_COLUMNS``,
``LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS``); the phase diagram's sweeps ``PHASE_KEPT_COLUMNS`` and its table ``PHASE_DIAGRAM_COLUMNS``.
The images branch's patch correlations use ``PATCH_PAIR_SUM_COLUMNS`` (per job),
``PATCH_CORRELATIONS_COLUMNS`` and ``PATCH_SUSCEPTIBILITY_COLUMNS``.
The images branch's sweeps use ``MEASURE_COLUMNS`` (per shard), ``CLASS_KEPT_COLUMNS`` and
``LAYER_SIMILARITY_COLUMNS``; the learned branch's evaluations ``EVAL_COLUMNS``,
``VALIDITY_COLUMNS``, ``LEARNING_CURVE_COLUMNS`` and ``SAMPLE_COMPLEXITY_COLUMNS``.
The grammar branch's sweeps use ``GRAMMAR_KEPT_COLUMNS``, ``GRAMMAR_CORRELATIONS_COLUMNS``,
``GRAMMAR_SUSCEPTIBILITY_COLUMNS`` and ``GRAMMAR_COCHANGE_COLUMNS`` (per shard and pooled), its
finite-size analysis ``GRAMMAR_SCALING_POINT_COLUMNS`` and ``GRAMMAR_SCALING_COLUMNS``.
The MDLM branch's trainings use ``MDLM_LOSS_COLUMNS``; its grammar sweeps ``MDLM_GRAMMAR_KEPT_COLUMNS``,
``MDLM_GRAMMAR_CORRELATIONS_COLUMNS``, ``MDLM_GRAMMAR_SUSCEPTIBILITY_COLUMNS`` and the comparison with
the exact posterior ``MDLM_GRAMMAR_GAP_COLUMNS``; its text protocol ``MDLM_TEXT_CURVE_COLUMNS``,
``MDLM_TEXT_CHI_COLUMNS`` and ``MDLM_TEXT_PEAK_COLUMNS``.
Jobs that only read or pool these tables import this module and pandas, not torch.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable

from hierphase.correlations import CORRELATION_COLUMNS, SUSCEPTIBILITY_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

#: One row per (experiment, model, process, L, rule draw, level, noise value) of a kept table:
#: ``kept_marginal`` is the mean posterior probability of the true latent, ``kept_sampled`` the
#: fraction a posterior sample keeps, with its Wilson interval over the ``n`` data.
KEPT_COLUMNS = ["experiment", "model", "process", "L", "rule_seed", "level", "noise", "t",
                "t_over_T", "kept_marginal", "kept_sampled", "ci_low", "ci_high", "n"]

#: The learned branch's kept tables: the shared columns, then the fraction of latents without a
#: valid parent (``invalid_rate``) and the model's training-set size and seed (NaN for exact BP).
LEARNED_KEPT_COLUMNS = KEPT_COLUMNS + ["invalid_rate", "P", "seed"]

#: Columns of the per-L mean-field table.
THEORY_COLUMNS = ["v", "m", "s", "L", "level", "eps", "kept"]

#: What identifies one forward-backward measurement of change correlations: the data ``family``
#: (``rhm``, ``gaussian_field``, ``flat_mixture``), the ``model`` (``bp``: the exact denoiser
#: of that family; ``mean_field``: theory), the noise (eps for the epsilon-process, else the
#: realised t/T, also in ``t_over_T``); ``L`` and ``rule_seed`` are missing where they mean nothing.
CORRELATION_KEYS = ["family", "experiment", "model", "process", "L", "rule_seed", "noise",
                    "t_over_T"]

#: C per (measurement, level, distance bin), with its bootstrap interval over x0.
CORRELATIONS_TABLE_COLUMNS = CORRELATION_KEYS + CORRELATION_COLUMNS

#: chi and xi per (measurement, level), and ``class_kept``: the fraction of forward-backward runs
#: whose class is the true one (mean over x0; NaN where the data have no class).
SUSCEPTIBILITY_TABLE_COLUMNS = (CORRELATION_KEYS + SUSCEPTIBILITY_COLUMNS[:-2] + ["class_kept"]
                                + SUSCEPTIBILITY_COLUMNS[-2:])

#: The learned branch's change-correlation tables (learned models and exact BP on the same x0 and
#: noisy states): the columns above, then the fraction of runs whose output parses
#: (``valid_fraction``; only those enter the latent levels) and the model's training-set size and
#: seed (NaN for exact BP).
LEARNED_CORRELATIONS_TABLE_COLUMNS = CORRELATIONS_TABLE_COLUMNS + ["valid_fraction", "P", "seed"]
LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS = SUSCEPTIBILITY_TABLE_COLUMNS + ["valid_fraction", "P", "seed"]

#: The phase-diagram sweeps (class rows of exact-BP kept sweeps over a grid of RHMs): the RHM's
#: ``s``, ``v``, ``m`` and ``n_classes``, then the kept columns.
PHASE_KEPT_COLUMNS = ["s", "v", "m", "n_classes"] + KEPT_COLUMNS

#: One row per (v, m, s) of the phase diagram: mean field's eps* (NaN without a transition) and
#: exact BP's class half point at the largest depth ``L``, its extrapolation to deep trees with its
#: standard error ``err``, whether each sees a transition; then mean field's p*, nu and boundary
#: m_c(v), BP's half point error, fitted nu, the largest significant gain in class kept from the
#: shallowest to the deepest tree, the depths and the half point at each (space-separated).
PHASE_DIAGRAM_COLUMNS = ["v", "m", "s", "n_classes", "eps_star_mf", "eps_half_bp", "L",
                         "eps_star_bp_extrapolated", "err", "has_transition_mf",
                         "has_transition_bp", "p_star_mf", "nu_mf", "eps_half_bp_err", "nu_bp",
                         "nu_bp_err", "depth_gain", "m_c_mf", "L_values", "eps_half_by_L"]

#: One row per (experiment, process, model, estimator) of the finite-size scaling of the class
#: curve (:mod:`hierphase.finite_size`): the transition point ``eps_star`` (t* for a time-based
#: process) extrapolated to L -> infinity and the exponent ``nu``, with standard errors, over the
#: depths ``L_min..L_max`` (``L_range``, e.g. "3-8"; ``n_points`` depths or pairs of depths
#: entered; ``amplitude`` the fit's ``A`` or ``B``, :func:`hierphase.finite_size.scaling_fits`),
#: beside the mean-field values (epsilon-process only; NaN otherwise).
SCALING_COLUMNS = ["experiment", "process", "model", "estimator", "eps_star", "eps_star_err",
                   "nu", "nu_err", "amplitude", "L_range", "L_min", "L_max", "n_points",
                   "eps_star_mean_field", "nu_mean_field"]

#: Per (experiment, process, model, L): the class curve's half point, its 90-10% width and its
#: crossing with the next depth measured (``next_L``), each with its standard error.
SCALING_POINT_COLUMNS = ["experiment", "process", "model", "L", "eps_half", "eps_half_err",
                         "eps_90", "eps_10", "width", "width_err", "next_L", "crossing",
                         "crossing_err"]

#: The images branch's change correlations of patches (:mod:`hierphase.images.embeddings`):
#: what identifies one measurement, as in the class-kept table, plus the ``embedding`` (a name of
#: config ``images.correlations.embeddings``) and its patch grid (``grid_h`` x ``grid_w``; the
#: distances ``r`` and lengths ``xi`` are in patches of that grid).
PATCH_KEYS = ["dataset", "model", "classifier", "embedding", "k", "K", "t", "t_over_T", "grid_h",
              "grid_w"]

#: Per (k, shard) job: the pair sums of every image, one row per (embedding, image, distance
#: bin); ``delta`` is the image's mean patch change (over patches and trajectories).
PATCH_PAIR_SUM_COLUMNS = ["embedding", "name", "k", "K", "t", "t_over_T", "grid_h", "grid_w",
                          "n_traj", "distance", "r", "pair_sum", "delta"]

#: C per (measurement, Euclidean distance bin on the patch grid), bootstrap interval over images.
PATCH_CORRELATIONS_COLUMNS = PATCH_KEYS + [c for c in CORRELATION_COLUMNS if c != "level"]

#: chi and xi per measurement, with bootstrap intervals over images, and ``delta``, the mean
#: patch change over images, patches and trajectories.
PATCH_SUSCEPTIBILITY_COLUMNS = (PATCH_KEYS + [c for c in SUSCEPTIBILITY_COLUMNS[:-2]
                                              if c != "level"]
                                + ["delta"] + SUSCEPTIBILITY_COLUMNS[-2:])

#: The images branch: per-shard measurement rows, one per (image, layer).
MEASURE_COLUMNS = ["name", "label", "k", "K", "t", "t_over_T", "pred_x0", "pred_x0_hat", "kept",
                   "layer", "depth", "similarity"]
CLASS_KEPT_COLUMNS = ["dataset", "model", "classifier", "k", "K", "t", "t_over_T", "kept",
                      "ci_low", "ci_high", "n"]
LAYER_SIMILARITY_COLUMNS = ["dataset", "model", "classifier", "k", "K", "t", "t_over_T", "layer",
                            "depth", "similarity", "ci_low", "ci_high", "n"]

#: The learned branch's evaluation of generated samples, one row per model.
EVAL_COLUMNS = ["experiment", "process", "model", "P", "seed", "grammatical", "grammatical_ci_low",
                "grammatical_ci_high", "memorized", "memorized_of_grammatical", "distinct_generated",
                "n_generated", "n_train_distinct"]
#: Per-level validity rows (:func:`hierphase.learned.evaluate.validity_table`): level l = 0 .. L-1
#: is the level whose rules make the tuples of level l + 1 (0: the class rules; L - 1: the rules
#: that make the leaves). ``samples``: "all" generated samples, or the "novel" ones (no copy of a
#: training datum), which measure what the model generalises; ``n_samples`` of them.
VALIDITY_COLUMNS = ["experiment", "process", "model", "P", "seed", "samples", "level",
                    "tuples_valid", "tuples_valid_ci_low", "tuples_valid_ci_high", "n_tuples",
                    "valid_up_to", "valid_up_to_ci_low", "valid_up_to_ci_high", "n_samples"]
#: Learning-curve rows: the validity rows of the weights at training step ``step``.
LEARNING_CURVE_COLUMNS = VALIDITY_COLUMNS[:5] + ["step"] + VALIDITY_COLUMNS[5:]
#: Columns of the sample-complexity table: per (experiment, process, seed, level, threshold),
#: ``P_star`` (log-interpolated crossing; NaN where the curve never reaches the threshold) and the
#: measured P values around it (``P_low``: the last below, 0 when even the smallest P is above;
#: ``P_high``: the first at or above, inf when none is).
SAMPLE_COMPLEXITY_COLUMNS = ["experiment", "process", "seed", "measure", "level", "threshold",
                             "P_star", "P_low", "P_high"]

#: What identifies one forward-backward measurement of the grammar branch: the experiment (a
#: grammar), the denoiser ``model`` (``grammar``: the exact posterior by inside-outside; ``hmm``:
#: the control without hierarchy), the sentence ``length`` in tokens, the process and its noise.
GRAMMAR_KEYS = ["experiment", "model", "length", "process", "noise"]
#: Per measurement and ``observable`` (``root``: the class; ``tokens``; ``constituent`` with its
#: ``height``, -1 on the other rows): the fraction one posterior sample keeps (``kept``) and the
#: posterior probability of the truth (``probability``), item-weighted means over the sentences
#: with their standard errors (:func:`hierphase.grammar.summarise_kept`).
GRAMMAR_KEPT_COLUMNS = GRAMMAR_KEYS + ["observable", "height", "kept", "kept_se", "probability",
                                       "probability_se", "n_sentences", "n_items"]
#: C(r) in token distance, and chi and xi, of the change spins (bootstrap over the x0).
GRAMMAR_CORRELATIONS_COLUMNS = GRAMMAR_KEYS + CORRELATION_COLUMNS
GRAMMAR_SUSCEPTIBILITY_COLUMNS = GRAMMAR_KEYS + SUSCEPTIBILITY_COLUMNS
#: Per token distance ``r`` and ``weighting`` (``all`` pairs, ``co_change``, ``connected``): the
#: mean width and height of the smallest true constituent holding both tokens, the width's
#: excess over the ``all`` baseline, each with its standard error over the x0
#: (:func:`hierphase.grammar.constituent_cochange`).
COCHANGE_COLUMNS = ["r", "weighting", "mean_enclosing_width", "mean_enclosing_width_se",
                    "mean_lca_height", "mean_lca_height_se", "width_excess", "width_excess_se",
                    "weight", "n_pairs", "n_x0"]
GRAMMAR_COCHANGE_COLUMNS = GRAMMAR_KEYS + COCHANGE_COLUMNS
#: Per (experiment, process, model, length): the class curve's half point, 90-10% width and
#: crossing with the next length (:func:`hierphase.finite_size.curve_points`, lengths for depths).
GRAMMAR_SCALING_POINT_COLUMNS = ["experiment", "process", "model", "length", "eps_half",
                                 "eps_half_err", "eps_90", "eps_10", "width", "width_err",
                                 "next_length", "crossing", "crossing_err"]
#: The finite-size fits of those points (:func:`hierphase.finite_size.scaling_fits` with the
#: sentence length in place of the number of leaves), over lengths ``length_min..length_max``.
GRAMMAR_SCALING_COLUMNS = ["experiment", "process", "model", "estimator", "eps_star",
                           "eps_star_err", "nu", "nu_err", "amplitude", "length_min", "length_max",
                           "n_points"]

#: The MDLM branch: a training's loss (``model``: ``grammar`` or ``text``; ``P`` its training
#: sequences), every ``log_every`` steps (:data:`hierphase.mdlm.train.LOSS_COLUMNS`).
MDLM_LOSS_COLUMNS = ["model", "P", "step", "loss", "lr", "n_steps_averaged"]
#: What identifies one forward-backward measurement on grammar sentences: the denoiser ``model``
#: (``mdlm``, or ``exact``: the grammar's posterior by inside-outside) and the MDLM's training
#: sentences ``P`` (0 for exact).
MDLM_GRAMMAR_KEYS = ["model", "P"]
#: Per (model, P, masked fraction ``level`` = t/T) and ``observable``: ``grammatical`` (the
#: fraction of samples the grammar parses, Wilson interval), ``class`` (the posterior probability
#: of the true root given the sample, 0 when ungrammatical; mean with a 95% interval over the
#: sentences), ``tokens`` (the fraction of tokens kept).
MDLM_GRAMMAR_KEPT_COLUMNS = MDLM_GRAMMAR_KEYS + ["level", "observable", "value", "lo", "hi", "n"]
MDLM_GRAMMAR_CORRELATIONS_COLUMNS = MDLM_GRAMMAR_KEYS + CORRELATION_COLUMNS
MDLM_GRAMMAR_SUSCEPTIBILITY_COLUMNS = MDLM_GRAMMAR_KEYS + SUSCEPTIBILITY_COLUMNS
#: Per (P, level): the MDLM against the exact posterior on the same noisy sentences: grammatical
#: fraction (Wilson), class kept of both and their gap, chi of both with their intervals and gap;
#: ``exact_peak`` marks the level of the exact chi's peak; the acceptance checks
#: (``grammatical_ok``: Wilson lower bound >= the threshold; ``class_ok``: |gap| <= tolerance;
#: ``chi_within``: |gap| within the two intervals' half-widths combined).
MDLM_GRAMMAR_GAP_COLUMNS = ["P", "level", "grammatical", "grammatical_lo", "grammatical_hi",
                            "class_model", "class_exact", "class_gap", "chi_model", "chi_model_lo",
                            "chi_model_hi", "chi_exact", "chi_exact_lo", "chi_exact_hi", "chi_gap",
                            "exact_peak", "grammatical_ok", "class_ok", "chi_within"]
#: The text protocol (:mod:`hierphase.text.protocol`), per denoiser ``model`` (``mdlm``,
#: ``ngram``, ``shuffled``: the MDLM on the passages shuffled within each, ``published``).
MDLM_TEXT_CURVE_COLUMNS = ["model", "t", "distance", "r", "C", "C_lo", "C_hi", "n_x0", "n_traj"]
MDLM_TEXT_CHI_COLUMNS = ["model", "t", "cutoff", "R", "chi", "chi_lo", "chi_hi", "xi", "xi_lo",
                         "xi_hi", "changed", "n_x0", "n_traj"]
#: Per (model, cutoff): where chi peaks on the t/T grid (its value and interval) and how far xi
#: grows (its largest value, where, and its interval).
MDLM_TEXT_PEAK_COLUMNS = ["model", "cutoff", "R", "t_chi_peak", "chi_peak", "chi_peak_lo",
                          "chi_peak_hi", "t_xi_max", "xi_max", "xi_max_lo", "xi_max_hi"]

#: The grammars' phase diagram, one row per (experiment, process): the ensemble's settings
#: (NaN for an RHM or a file), the 90-10% width of the relative class curve (read between its
#: exact clean and full-noise ends: hierphase.grammar.phase) at the shortest and longest length,
#: the slope of log2(width) against log2(n) (``sharpening``) and whether it is below zero by two
#: standard errors (``sharp``), the relative half point, and the two ends (``kept_clean``: the
#: mean posterior probability of the true root of a clean sentence; ``kept_floor``: of no
#: sentence) at the longest length; for an RHM (epsilon-process) the mean field's half point
#: and its largest gap to the measured curve, and for a family of RHM depths (one row) the mean
#: field's sharpening over them.
GRAMMAR_PHASE_COLUMNS = ["experiment", "source", "n_binary", "overlap", "law", "zipf_exponent",
                         "process", "n_lengths", "length_min", "length_max", "width_first",
                         "width_first_err", "width_last", "width_last_err", "sharpening",
                         "sharpening_err", "sharp", "eps_half", "eps_half_err", "kept_clean",
                         "kept_clean_se", "kept_floor", "mean_field_half", "mean_field_gap",
                         "mean_field_sharpening"]

#: Every registered table layout by name: what :func:`hierphase.io.write_table` records in a
#: table's sidecar (the layout whose columns it has) and :func:`hierphase.io.read_table` checks.
TABLES: dict[str, list[str]] = {
    "kept": KEPT_COLUMNS,
    "learned_kept": LEARNED_KEPT_COLUMNS,
    "theory": THEORY_COLUMNS,
    "correlations": CORRELATIONS_TABLE_COLUMNS,
    "susceptibility": SUSCEPTIBILITY_TABLE_COLUMNS,
    "learned_correlations": LEARNED_CORRELATIONS_TABLE_COLUMNS,
    "learned_susceptibility": LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS,
    "phase_kept": PHASE_KEPT_COLUMNS,
    "phase_diagram": PHASE_DIAGRAM_COLUMNS,
    "scaling": SCALING_COLUMNS,
    "scaling_points": SCALING_POINT_COLUMNS,
    "patch_pair_sums": PATCH_PAIR_SUM_COLUMNS,
    "patch_correlations": PATCH_CORRELATIONS_COLUMNS,
    "patch_susceptibility": PATCH_SUSCEPTIBILITY_COLUMNS,
    "measure": MEASURE_COLUMNS,
    "class_kept": CLASS_KEPT_COLUMNS,
    "layer_similarity": LAYER_SIMILARITY_COLUMNS,
    "evaluation": EVAL_COLUMNS,
    "validity": VALIDITY_COLUMNS,
    "learning_curve": LEARNING_CURVE_COLUMNS,
    "sample_complexity": SAMPLE_COMPLEXITY_COLUMNS,
    "grammar_kept": GRAMMAR_KEPT_COLUMNS,
    "grammar_correlations": GRAMMAR_CORRELATIONS_COLUMNS,
    "grammar_susceptibility": GRAMMAR_SUSCEPTIBILITY_COLUMNS,
    "grammar_cochange": GRAMMAR_COCHANGE_COLUMNS,
    "grammar_scaling_points": GRAMMAR_SCALING_POINT_COLUMNS,
    "grammar_scaling": GRAMMAR_SCALING_COLUMNS,
    "grammar_phase": GRAMMAR_PHASE_COLUMNS,
    "mdlm_loss": MDLM_LOSS_COLUMNS,
    "mdlm_grammar_kept": MDLM_GRAMMAR_KEPT_COLUMNS,
    "mdlm_grammar_correlations": MDLM_GRAMMAR_CORRELATIONS_COLUMNS,
    "mdlm_grammar_susceptibility": MDLM_GRAMMAR_SUSCEPTIBILITY_COLUMNS,
    "mdlm_grammar_gap": MDLM_GRAMMAR_GAP_COLUMNS,
    "mdlm_text_curves": MDLM_TEXT_CURVE_COLUMNS,
    "mdlm_text_chi": MDLM_TEXT_CHI_COLUMNS,
    "mdlm_text_peaks": MDLM_TEXT_PEAK_COLUMNS,
}

#: Columns holding text (names, labels, space-separated lists); missing values allowed.
STRING_COLUMNS = frozenset({"experiment", "model", "process", "family", "dataset", "classifier",
                            "embedding", "layer", "name", "measure", "estimator", "samples",
                            "L_range", "L_values", "eps_half_by_L", "observable",
                            "weighting", "cutoff", "source", "law"})
#: Columns holding booleans.
BOOL_COLUMNS = frozenset({"has_transition_mf", "has_transition_bp", "exact_peak",
                          "grammatical_ok", "class_ok", "chi_within", "sharp"})
#: Where one table's column has another kind than the same name elsewhere: the images branch's
#: per-image ``kept`` is a boolean, while every aggregated ``kept`` is a fraction.
TABLE_KINDS = {"measure": {"kept": "bool"}}


class TableSchemaError(ValueError):
    """A table's columns or dtypes are not those of its declared layout (another table's file
    copied over it, a file of an older layout): the message names the file."""


def column_kind(column: str, table: str | None = None) -> str:
    """``"str"``, ``"bool"`` or ``"number"`` (int or float, nullable ints included; every column
    not declared text or boolean is a number), in layout ``table`` where given
    (:data:`TABLE_KINDS`)."""
    if column in TABLE_KINDS.get(table, {}):
        return TABLE_KINDS[table][column]
    if column in STRING_COLUMNS:
        return "str"
    if column in BOOL_COLUMNS:
        return "bool"
    return "number"


def layout_of(columns: Iterable[str]) -> str | None:
    """The registered layout (a key of :data:`TABLES`) with exactly ``columns``, or None."""
    wanted = set(columns)
    return next((name for name, cols in TABLES.items() if set(cols) == wanted), None)


def _kind_matches(series: pd.Series, kind: str) -> bool:
    import pandas as pd

    from pandas.api import types

    dtype = series.dtype
    if kind == "str":
        return (types.is_string_dtype(dtype) or types.is_object_dtype(dtype)) and \
            pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    if kind == "bool":
        return types.is_bool_dtype(dtype)
    if types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype):
        return True
    return series.isna().all()  # a column of missing values only reads back as object


def check_table(df: pd.DataFrame, table: str, path: str | os.PathLike = "<table>") -> pd.DataFrame:
    """``df`` when it has exactly the columns of layout ``table`` (any order) with their kinds
    (:func:`column_kind`); else :class:`TableSchemaError` naming ``path``, the layout, and the
    missing, unexpected and mistyped columns."""
    if table not in TABLES:
        raise TableSchemaError(f"{path}: table must be one of {sorted(TABLES)}, got {table!r}")
    expected = TABLES[table]
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    mistyped = [f"{c} ({df[c].dtype}, expected {column_kind(c, table)})" for c in expected
                if c in df.columns and not _kind_matches(df[c], column_kind(c, table))]
    if missing or extra or mistyped:
        found = layout_of(df.columns)
        parts = [f"missing columns {missing}" if missing else "",
                 f"unexpected columns {extra}" if extra else "",
                 f"mistyped columns {mistyped}" if mistyped else "",
                 f"it has the layout of table {found!r}" if found and found != table else ""]
        raise TableSchemaError(f"{path}: not a {table!r} table: "
                               + "; ".join(p for p in parts if p)
                               + "; delete it (or restore the right file) and rerun")
    return df
