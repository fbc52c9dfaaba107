"""Column layouts of the RHM branch's tables, in one torch-free place.

The sweep shards and the aggregated kept table use ``KEPT_COLUMNS``; the learned branch's kept
tables (learned models and their exact-BP reference) add three columns, ``LEARNED_KEPT_COLUMNS``; the mean-field tables use ``THEORY_COLUMNS``; the change-correlation tables (exact BP, mean field and the
non-hierarchical controls) use ``CORRELATIONS_TABLE_COLUMNS`` and ``SUSCEPTIBILITY_TABLE_COLUMNS``, the
learned branch's add three columns (``LEARNED_CORRELATIONS_TABLE_COLUMNS``,
``LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS``); the phase diagram's sweeps ``PHASE_KEPT_COLUMNS`` and its table ``PHASE_DIAGRAM_COLUMNS``.
The images branch's patch correlations use ``PATCH_PAIR_SUM_COLUMNS`` (per job),
``PATCH_CORRELATIONS_COLUMNS`` and ``PATCH_SUSCEPTIBILITY_COLUMNS``.
Jobs that only read or pool these tables import this module and pandas, not torch.
"""

from hierphase.correlations import CORRELATION_COLUMNS, SUSCEPTIBILITY_COLUMNS

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
