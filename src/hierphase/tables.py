"""Column layouts of the RHM branch's tables, in one torch-free place.

The sweep shards and the aggregated kept table use ``KEPT_COLUMNS``; the learned branch's kept
tables (learned models and their exact-BP reference) add three columns, ``LEARNED_KEPT_COLUMNS``; the mean-field tables use ``THEORY_COLUMNS``. Jobs that only read or pool these
tables import this module and pandas, not torch.
"""

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
