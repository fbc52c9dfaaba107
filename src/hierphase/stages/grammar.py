"""Glue of the grammar branch of the workflow: one function per stage, on plain values.

The science lives in :mod:`hierphase.grammar` (grammars, inside-outside, the HMM control, the
per-noise-level sweeps) and :mod:`hierphase.finite_size`; this module strings it together the way
the stages need it: a grammar from its source, sentences of each length, the control fitted to the
grammar's sentences, one shard per (model, length, process, noise value), pooled tables and the
finite-size table. Grammars, sentences and HMMs travel between stages as the plain dicts
:func:`hierphase.io.save_tensors` writes. Seeds are the workflow's (each job's), handed over as
integers; the functions derive sub-seeds from them. It imports no Snakemake.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hierphase.seeding import derive_seed
from hierphase.tables import (GRAMMAR_COCHANGE_COLUMNS, GRAMMAR_CORRELATIONS_COLUMNS,
                              GRAMMAR_KEPT_COLUMNS, GRAMMAR_KEYS, GRAMMAR_SCALING_COLUMNS,
                              GRAMMAR_SCALING_POINT_COLUMNS, GRAMMAR_SUSCEPTIBILITY_COLUMNS)

__all__ = ["draw_grammar", "draw_sentences", "fit_control", "sweep_shard", "aggregate_shards",
           "finite_size", "SHARD_COLUMNS"]

log = logging.getLogger(__name__)

#: The tables of one shard (and of the pooled tables of an experiment), by name.
SHARD_COLUMNS = {"kept": GRAMMAR_KEPT_COLUMNS, "correlations": GRAMMAR_CORRELATIONS_COLUMNS,
                 "susceptibility": GRAMMAR_SUSCEPTIBILITY_COLUMNS,
                 "cochange": GRAMMAR_COCHANGE_COLUMNS}
#: Sort order of each table beyond the keys.
_ORDER = {"kept": ["observable", "height"], "correlations": ["distance"],
          "susceptibility": [], "cochange": ["weighting", "r"]}


def draw_grammar(source: str, *, random: Mapping | None = None, rhm: Mapping | None = None,
                 path=None, lengths: Sequence[int], seed: int) -> tuple[dict, dict]:
    """The experiment's grammar as a dict for :func:`hierphase.io.save_tensors`, and a summary
    for its sidecar. ``source``: ``"random"`` (:func:`hierphase.grammar.random_grammar` with the
    settings ``random``, conditioned on deriving every length of ``lengths``), ``"rhm"`` (the RHM
    ``rhm`` = v, m, s, L, n_classes drawn by :func:`hierphase.rhm.sample_rules`, written by
    :func:`hierphase.grammar.rhm_grammar`) or ``"file"`` (:func:`hierphase.grammar.read_pcfg` of
    ``path``; every length of ``lengths`` must be derivable). ``seed`` draws the random grammar
    or the RHM."""
    from hierphase import grammar as G

    lengths = sorted(int(n) for n in lengths)
    if source == "random":
        r = dict(random or {})
        g = G.random_grammar(r.pop("n_nonterminals"), r.pop("n_preterminals"),
                             r.pop("n_terminals"), r.pop("n_binary"), r.pop("n_lexical"),
                             seed=int(seed), lengths=lengths, **r)
    elif source == "rhm":
        from hierphase import rhm as R

        r = rhm or {}
        rules = R.sample_rules(r["v"], r["m"], r["s"], r["L"], n_classes=r.get("n_classes"),
                               seed=int(seed))
        g = G.rhm_grammar(rules)
    elif source == "file":
        if path is None:
            raise ValueError("source 'file' needs the grammar file's path")
        g = G.read_pcfg(path)
        for n in lengths:
            if G.length_probability(g, n) == -math.inf:
                raise ValueError(f"{path}: the grammar derives no sentence of {n} tokens from "
                                 f"its start symbol {g.nonterminals[int(g.root.argmax())]!r}; "
                                 "choose other lengths")
    else:
        raise ValueError(f"source must be 'random', 'rhm' or 'file', got {source!r}")
    info = {"n_nonterminals": g.n_nonterminals, "n_terminals": g.n_terminals,
            "n_binary_rules": int(g.binary.shape[0]), "n_roots": int((g.root > 0).sum()),
            "log_length_probability": {str(n): G.length_probability(g, n) for n in lengths}}
    log.info("grammar (%s): %s", source, info)
    return G.grammar_to_dict(g), info


def _grammar(data: Mapping):
    from hierphase.grammar import grammar_from_dict

    return grammar_from_dict(dict(data))


def draw_sentences(grammar: Mapping, lengths: Sequence[int], n_sentences: int, *,
                   seed: int) -> dict:
    """``n_sentences`` sentences of each length with their parse trees, exactly from the grammar
    (a dict as :func:`draw_grammar` returns it) conditioned on the length; length n drawn with
    ``derive_seed(seed, n)``, so the sentences of one length do not depend on the others. A dict
    ``{"n<n>": {"tokens": (b, n), "spans": (b, 2n-1, 3)}}``."""
    from hierphase.grammar import sample_sentences

    g = _grammar(grammar)
    out = {}
    for n in sorted(int(x) for x in lengths):
        trees = sample_sentences(g, n, int(n_sentences), derive_seed(int(seed), n))
        out[f"n{n}"] = {"tokens": trees.tokens, "spans": trees.spans}
    return out


def fit_control(grammar: Mapping, *, length: int, n_train: int, n_states: int, n_iter: int,
                seed: int) -> tuple[dict, list[float]]:
    """The control without hierarchy: an HMM of ``n_states`` states fitted by Baum-Welch
    (:func:`hierphase.grammar.fit_hmm`, at most ``n_iter`` iterations) to ``n_train`` sentences of
    ``length`` tokens of the grammar, drawn for it. Returns the HMM as a dict for
    :func:`hierphase.io.save_tensors` and the mean log-likelihood per sentence at each iteration."""
    from hierphase.grammar import fit_hmm, hmm_to_dict, sample_sentences

    g = _grammar(grammar)
    train = sample_sentences(g, int(length), int(n_train), derive_seed(int(seed), "train"))
    hmm, history = fit_hmm(train.tokens, int(n_states), g.n_terminals,
                           derive_seed(int(seed), "fit"), n_iter=int(n_iter))
    log.info("HMM of %d states: log-likelihood per sentence %.4f after %d iterations", n_states,
             history[-1], len(history))
    return hmm_to_dict(hmm), [float(x) for x in history]


def _keyed(frame: pd.DataFrame, columns: list[str], keys: Mapping) -> pd.DataFrame:
    out = frame.copy()
    for k, v in keys.items():
        out[k] = v
    return out[columns].reset_index(drop=True)


def sweep_shard(model: str, denoiser: Mapping, sentences: Mapping, *, experiment: str, n: int,
                process: str, level: float, n_x0: int, n_traj: int, n_boot: int,
                seed: int) -> dict[str, pd.DataFrame]:
    """One shard: the sentences of length ``n`` noised by ``process`` at ``level`` and denoised by
    one exact posterior sample of ``denoiser`` (``model`` ``"grammar"``: the grammar's dict, by
    inside-outside; ``"hmm"``: the HMM's, by forward-backward). Four tables
    (:data:`SHARD_COLUMNS`): ``kept`` (root, tokens, constituents by height,
    :func:`hierphase.grammar.summarise_kept`), and from ``n_traj`` runs of each of the first
    ``n_x0`` sentences the change ``correlations`` and ``susceptibility`` (``n_boot`` bootstrap
    resamples) and the ``cochange`` against the true constituents. The noise draws depend on
    ``seed`` only, not on the model: the grammar's and the HMM's shards of one (length, process,
    level) denoise the same noisy sentences."""
    from hierphase.grammar import (Trees, change_correlations, change_spins,
                                   constituent_cochange, hmm_from_dict, kept_table,
                                   summarise_kept)

    if model == "grammar":
        den = _grammar(denoiser)
    elif model == "hmm":
        den = hmm_from_dict(dict(denoiser))
    else:
        raise ValueError(f"model must be 'grammar' or 'hmm', got {model!r}")
    part = sentences.get(f"n{int(n)}")
    if part is None:
        raise ValueError(f"the sentences hold no length {n} (they have "
                         f"{sorted(k for k in sentences)})")
    trees = Trees(part["tokens"], part["spans"])
    if not 1 <= n_x0 <= trees.tokens.shape[0]:
        raise ValueError(f"n_x0 must lie in [1, {trees.tokens.shape[0]}], got {n_x0}")
    keys = {"experiment": experiment, "model": model, "length": int(n), "process": process,
            "noise": float(level)}
    kept = summarise_kept(kept_table(den, trees, process, level, derive_seed(int(seed), "kept")))
    x0 = Trees(trees.tokens[:n_x0], trees.spans[:n_x0])
    spins = change_spins(den, x0.tokens, process, level, int(n_traj),
                         derive_seed(int(seed), "spins"))
    corr = change_correlations(spins, int(n_boot), derive_seed(int(seed), "bootstrap"))
    cochange = constituent_cochange(spins, x0)
    root = kept[kept["observable"] == "root"]
    log.info("%s, n=%d, %s %s: class kept %s, chi %.4g", model, n, process, level,
             f"{root['kept'].iloc[0]:.4f}" if len(root) else "-",
             corr.susceptibility["chi"].iloc[0])
    frames = {"kept": kept, "correlations": corr.correlations,
              "susceptibility": corr.susceptibility, "cochange": cochange}
    return {name: _keyed(frames[name], SHARD_COLUMNS[name], keys) for name in SHARD_COLUMNS}


def aggregate_shards(tables: Mapping[str, Iterable[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The shards' tables of one experiment pooled, one table per name of :data:`SHARD_COLUMNS`
    (``tables``: name -> the shards' frames), sorted by their keys."""
    out = {}
    for name, frames in tables.items():
        if name not in SHARD_COLUMNS:
            raise ValueError(f"unknown table {name!r}; expected one of {sorted(SHARD_COLUMNS)}")
        columns = SHARD_COLUMNS[name]
        frames = [f[columns] for f in frames]
        if not frames:
            raise ValueError(f"no {name} shards to pool")
        df = pd.concat(frames, ignore_index=True)
        order = GRAMMAR_KEYS + _ORDER[name]
        if df.duplicated(order).any():
            raise ValueError(f"{name}: a measurement appears in two shards")
        out[name] = df.sort_values(order, kind="mergesort").reset_index(drop=True)
    return out


def _length_range(points: pd.DataFrame, used: pd.Series, pairs: bool = False) -> tuple:
    if not used.any():
        return np.nan, np.nan
    top = points.loc[used, "next_length" if pairs else "length"].max()
    return int(points.loc[used, "length"].min()), int(top)


def finite_size(kept: pd.DataFrame, *, n_classes: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grammar's class curves (posterior probability of the true root against the noise, one
    per length; their standard errors over the sentences) through the RHM branch's finite-size
    estimators with the sentence length n in place of the number of leaves s^L
    (:func:`hierphase.finite_size.curve_points`, :func:`hierphase.finite_size.scaling_fits` at
    L = log2 n, s = 2): per (experiment, process) the points (half point, 90-10% width on the
    curve normalised by chance = 1/n_classes, crossing with the next length) and the fits. With
    fewer than two classes the class is always kept: rows of NaN."""
    from hierphase.finite_size import Curve, curve_points, scaling_fits

    root = kept[(kept["model"] == "grammar") & (kept["observable"] == "root")]
    points, fits = [], []
    for (experiment, process), g in root.groupby(["experiment", "process"], sort=True):
        curves = {}
        for n, c in g.groupby("length", sort=True):
            c = c.sort_values("noise")
            curves[int(n)] = Curve(c["noise"].to_numpy(float), c["probability"].to_numpy(float),
                                   c["probability_se"].fillna(0.0).to_numpy(float))
        keys = {"experiment": experiment, "process": process, "model": "grammar"}
        if n_classes >= 2:
            p = curve_points(curves, n_classes, **keys)
        else:
            p = pd.DataFrame([{**keys, "L": n} for n in sorted(curves)])
        p = p.rename(columns={"L": "length", "next_L": "next_length"})
        p = p.reindex(columns=GRAMMAR_SCALING_POINT_COLUMNS)
        p["next_length"] = p["next_length"].astype("Float64")
        points.append(p)
        log2 = p.assign(L=np.log2(p["length"].astype(float)),
                        next_L=np.log2(p["next_length"].astype(float)))
        for row in scaling_fits(log2, s=2):
            est = row["estimator"]
            if est == "width":
                used = np.isfinite(p["width"]) & (p["width"] > 0)
            elif est == "crossing":
                used = np.isfinite(p["crossing"].astype(float))
            else:
                used = np.isfinite(p["eps_half"].astype(float))
            lo, hi = _length_range(p, used, pairs=est == "crossing")
            fits.append({**keys, **{k: row[k] for k in ("estimator", "eps_star", "eps_star_err",
                                                        "nu", "nu_err", "amplitude",
                                                        "n_points")},
                         "length_min": lo, "length_max": hi})
    points = (pd.concat(points, ignore_index=True) if points
              else pd.DataFrame(columns=GRAMMAR_SCALING_POINT_COLUMNS))
    fits = pd.DataFrame(fits, columns=GRAMMAR_SCALING_COLUMNS)
    for col in ("length_min", "length_max"):
        fits[col] = fits[col].astype("Float64")
    return points[GRAMMAR_SCALING_POINT_COLUMNS], fits


def phase_diagram(kept: Mapping[str, pd.DataFrame], grammars: Mapping[str, Mapping],
                  sentences: Mapping[str, Mapping], sources: Mapping[str, Mapping],
                  n_classes: Mapping[str, int]) -> pd.DataFrame:
    """The grammars' phase diagram (:func:`hierphase.grammar.phase.phase_rows`), one block of
    rows per experiment in the order of ``kept`` (the RHMs of one v, m, s at several depths
    together, :func:`hierphase.grammar.phase.rhm_families`, named by their names joined with
    ``+``): its pooled kept table, its grammar and
    sentences (as :func:`draw_grammar` and :func:`draw_sentences` return them; the ends of its
    class curves come from them, :func:`hierphase.grammar.phase.class_anchors`), source
    settings (``{"source": ..., <source>: {...}}``) and number of classes."""
    from hierphase.grammar.phase import class_anchors, phase_rows, rhm_families

    frames = []
    for family in rhm_families({name: sources[name] for name in kept}):
        anchors = []
        for name in family:
            trees = {int(key[1:]): value for key, value in sentences[name].items()}
            anchors.append(class_anchors(_grammar(grammars[name]),
                                         {n: t["tokens"] for n, t in trees.items()},
                                         {n: t["spans"][:, 0, 2] for n, t in trees.items()}))
        source = sources[family[0]]
        if len(family) > 1:  # one RHM per depth: read as one grammar at their lengths
            source = {"source": "rhm", "rhm": {**source["rhm"], "L": [
                sources[name]["rhm"]["L"] for name in family]}}
        frames.append(phase_rows("+".join(family), source,
                                 pd.concat([kept[name] for name in family], ignore_index=True),
                                 pd.concat(anchors, ignore_index=True),
                                 int(n_classes[family[0]])))
    return pd.concat(frames, ignore_index=True)
