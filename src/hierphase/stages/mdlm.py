"""Glue of the MDLM branch of the workflow: one function per stage, on plain values.

The science lives in :mod:`hierphase.mdlm` (the masked diffusion transformer, its objective,
sampler and resumable training, the published checkpoint's loader), :mod:`hierphase.text` (the
corpus, tokenizers, passages, the n-gram control and the follow-up's change-correlation protocol)
and :mod:`hierphase.grammar` (the exact posterior of a grammar by inside-outside, its parser).
Two experiments:

* **grammar**: a random PCFG, sentences of one length; MDLMs trained on the first ``P`` training
  sentences for several ``P``; forward-backward by masking at each t/T with every MDLM and with the
  grammar's exact posterior on the same noisy sentences (:func:`grammar_sweep`), compared in
  :func:`grammar_gap`;
* **text**: a corpus, a tokenizer trained on it, an MDLM trained on its training part, the
  protocol on held-out passages for the MDLM, the n-gram control and the passages shuffled
  (:func:`text_protocol`), a published checkpoint on its own tokenizer's passages
  (:func:`published_protocol`), pooled with the peaks of chi and xi (:func:`text_aggregate`).

Seeds are the workflow's (each job's), handed over as integers; the functions derive sub-seeds
from them. It imports no Snakemake.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hierphase.io import write_table
from hierphase.seeding import derive_seed
from hierphase.stats import mean_interval, wilson_interval
from hierphase.tables import (MDLM_GRAMMAR_CORRELATIONS_COLUMNS, MDLM_GRAMMAR_GAP_COLUMNS,
                              MDLM_GRAMMAR_KEPT_COLUMNS, MDLM_GRAMMAR_SUSCEPTIBILITY_COLUMNS,
                              MDLM_LOSS_COLUMNS, MDLM_TEXT_CHI_COLUMNS, MDLM_TEXT_CURVE_COLUMNS,
                              MDLM_TEXT_PEAK_COLUMNS)

__all__ = ["grammar_data", "train_grammar_model", "grammar_sweep", "grammar_aggregate",
           "grammar_gap", "text_data", "train_text_model", "text_protocol", "published_protocol",
           "text_aggregate", "text_peaks", "GRAMMAR_TABLES", "TEXT_TABLES", "FOLLOW_UP"]

log = logging.getLogger(__name__)

#: The grammar sweep's tables, by name.
GRAMMAR_TABLES = {"kept": MDLM_GRAMMAR_KEPT_COLUMNS,
                  "correlations": MDLM_GRAMMAR_CORRELATIONS_COLUMNS,
                  "susceptibility": MDLM_GRAMMAR_SUSCEPTIBILITY_COLUMNS}
#: The text protocol's tables, by name.
TEXT_TABLES = {"curves": MDLM_TEXT_CURVE_COLUMNS, "chi": MDLM_TEXT_CHI_COLUMNS}
#: What the follow-up study reports on text with a published MDLM (drawn on the figures): xi grows
#: to about 7-8 tokens near t/T = 0.6; chi summed over r <= 10 peaks near t/T = 0.5-0.6.
FOLLOW_UP = {"xi_max": (7.0, 8.0), "xi_t": 0.6, "chi_peak_t": (0.5, 0.6), "chi_R": 10}


# ----------------------------------------------------------------------------- grammar
def grammar_data(random: Mapping, *, length: int, n_train: int, n_test: int,
                 seed: int) -> tuple[dict, dict]:
    """A random PCFG (:func:`hierphase.stages.grammar.draw_grammar` with the ensemble ``random``,
    conditioned on deriving ``length`` tokens), ``n_train`` training sentences and ``n_test``
    test sentences with their trees, all of ``length`` tokens. Returns the dict for
    :func:`hierphase.io.save_tensors` and the grammar's summary."""
    from hierphase.grammar import grammar_from_dict, sample_sentences
    from hierphase.stages.grammar import draw_grammar

    gdict, info = draw_grammar("random", random=random, lengths=[int(length)],
                               seed=derive_seed(int(seed), "grammar"))
    g = grammar_from_dict(dict(gdict))
    train = sample_sentences(g, int(length), int(n_train), derive_seed(int(seed), "train"))
    test = sample_sentences(g, int(length), int(n_test), derive_seed(int(seed), "test"))
    return {"grammar": gdict, "train": train.tokens,
            "test": {"tokens": test.tokens, "spans": test.spans}}, info


def _train(sequences, mask_id: int, network, training: Mapping, seed: int, *, model: str, P: int,
           model_path, loss_parquet, loss_csv, device: str, config: Mapping) -> None:
    """Train a :class:`hierphase.mdlm.model.DiffusionTransformer` (``network``: its config) on
    ``sequences`` and write the final model (:func:`hierphase.mdlm.train.save_model`) and its
    loss table. Checkpoints go to ``<model_path>.resume``; a job rerun after an interruption
    resumes there and writes the same bytes."""
    import torch

    from hierphase.devices import resolve_device
    from hierphase.mdlm.model import DiffusionTransformer
    from hierphase.mdlm.train import TrainConfig, save_model, train

    device = resolve_device(device, key="mdlm.device")
    cfg = TrainConfig(**training)
    with torch.random.fork_rng(devices=[]):  # the initial weights, from the seed alone
        torch.manual_seed(derive_seed(int(seed), "init"))
        net = DiffusionTransformer(network)
    resume = Path(f"{model_path}.resume")
    result = train(net, sequences, int(mask_id), cfg, derive_seed(int(seed), "train"),
                   checkpoint=resume, device=device, name=f"{model} P={P}")
    weights = {k: v.detach().cpu() for k, v in result.net.state_dict().items()}
    save_model(model_path, weights, network, {"mask_id": int(mask_id), "P": int(P),
                                              "steps": result.steps_done})
    resume.unlink(missing_ok=True)
    table = result.loss_table.assign(model=model, P=int(P))[MDLM_LOSS_COLUMNS]
    write_table(table, loss_parquet, loss_csv, config=config, seed=int(seed), table="mdlm_loss")
    log.info("%s P=%d: final loss %.4f after %d steps", model, P, table["loss"].iloc[-1],
             result.steps_done)


def _network(vocab_size: int, network: Mapping):
    from hierphase.mdlm.model import TransformerConfig

    return TransformerConfig(vocab_size=int(vocab_size), **dict(network))


def train_grammar_model(data: Mapping, *, P: int, network: Mapping, training: Mapping, seed: int,
                        model_path, loss_parquet, loss_csv, device: str = "cpu",
                        config: Mapping | None = None) -> None:
    """An MDLM over the grammar's terminals and the mask (id V) trained on the first ``P``
    training sentences of ``data`` (:func:`grammar_data`)."""
    train = data["train"]
    if not 1 <= int(P) <= train.shape[0]:
        raise ValueError(f"P must lie in [1, {train.shape[0]}] (the training sentences), got {P}")
    V = int(data["grammar"]["lexical"].shape[1])
    _train(train[: int(P)].long(), V, _network(V + 1, network), training, seed, model="grammar",
           P=int(P), model_path=model_path, loss_parquet=loss_parquet, loss_csv=loss_csv,
           device=device, config=config or {})


def _model_denoiser(model_path, steps: int | None, batch_size: int, device: str):
    from hierphase.devices import resolve_device
    from hierphase.mdlm.diffusion import ModelDenoiser
    from hierphase.mdlm.train import load_model

    device = resolve_device(device, key="mdlm.device")
    net = load_model(model_path, device=device)
    return ModelDenoiser(net, net.cfg.vocab_size - 1, steps=steps, batch_size=int(batch_size),
                         device=device)


def _masked(ev):
    """The positions a masking evidence hides (uniform log-evidence 0 on every terminal)."""
    return (ev == 0).all(-1)


def grammar_sweep(data: Mapping, levels: Sequence[float], *, model_path=None, P: int = 0,
                  n_x0: int, n_traj: int, n_boot: int, seed: int, steps: int | None = None,
                  batch_size: int = 256, device: str = "cpu") -> dict[str, pd.DataFrame]:
    """Forward-backward by masking on the test sentences of ``data`` at each level t/T of
    ``levels``, denoised by the MDLM at ``model_path`` (``P`` its training sentences) or, with
    ``model_path`` None, by the grammar's exact posterior (inside-outside). The masks depend on
    ``seed`` and the level only: every model sees the same noisy sentences. Tables
    (:data:`GRAMMAR_TABLES`): ``kept`` (grammatical fraction of the samples by the grammar's
    parser with its Wilson interval; class kept, the posterior probability of the true root given
    the sample; tokens kept), and from ``n_traj`` runs of each of the first ``n_x0`` test
    sentences the change ``correlations`` and ``susceptibility`` (``n_boot`` bootstrap resamples
    of the x0)."""
    import torch

    from hierphase.correlations import change_spins
    from hierphase.grammar import change_correlations, grammar_from_dict, parse, sample_posterior
    from hierphase.grammar.sweeps import noisy_evidence

    g = grammar_from_dict(dict(data["grammar"]))
    V = g.n_terminals
    tokens, spans = data["test"]["tokens"].long(), data["test"]["spans"].long()
    b, n = tokens.shape
    if not 1 <= n_x0 <= b:
        raise ValueError(f"n_x0 must lie in [1, {b}] (the test sentences), got {n_x0}")
    exact = model_path is None
    name = "exact" if exact else "mdlm"
    den = None if exact else _model_denoiser(model_path, steps, batch_size, device)

    def denoise(x, ev, s):
        if exact:
            return sample_posterior(g, ev, s).tokens
        return den(x, _masked(ev), level, s)

    truth = spans[:, 0, 2]
    kept, corrs, chis = [], [], []
    for level in (float(t) for t in levels):
        ev = noisy_evidence(tokens, V, "masking", level, derive_seed(int(seed), "kept", level))
        x_hat = denoise(tokens, ev, derive_seed(int(seed), "kept.sample", level))
        p = parse(g, x_hat)
        ok = p.grammatical.numpy()
        cls = np.where(ok, np.nan_to_num(p.root.numpy()[np.arange(b), truth.numpy()]), 0.0)
        lo, hi = wilson_interval(ok.sum(), b)
        rows = [("grammatical", ok.mean(), float(lo), float(hi))]
        for obs, x in (("class", cls), ("tokens", (x_hat == tokens).double().mean(1).numpy())):
            mean, lo, hi, _ = mean_interval(x)
            rows.append((obs, float(mean), max(0.0, float(lo)), min(1.0, float(hi))))
        kept += [{"level": level, "observable": o, "value": float(v), "lo": lo, "hi": hi, "n": b}
                 for o, v, lo, hi in rows]
        rep = tokens[:n_x0].repeat_interleave(int(n_traj), dim=0)
        ev = torch.cat([noisy_evidence(tokens[i:i + 1].expand(int(n_traj), -1), V, "masking",
                                       level, derive_seed(int(seed), "traj", level, i))
                        for i in range(n_x0)])
        hats = denoise(rep, ev, derive_seed(int(seed), "traj.sample", level))
        spins = change_spins(tokens[:n_x0], hats.reshape(n_x0, int(n_traj), n))
        corr = change_correlations(spins, int(n_boot), derive_seed(int(seed), "bootstrap", level))
        corrs.append(corr.correlations.assign(level=level))
        chis.append(corr.susceptibility.assign(level=level))
        log.info("%s P=%d t/T=%.3g: grammatical %.3f, class %.3f, chi %.4g", name, P, level,
                 rows[0][1], rows[1][1], corr.susceptibility["chi"].iloc[0])
    keys = {"model": name, "P": int(P)}
    frames = {"kept": pd.DataFrame(kept), "correlations": pd.concat(corrs, ignore_index=True),
              "susceptibility": pd.concat(chis, ignore_index=True)}
    return {k: f.assign(**keys)[GRAMMAR_TABLES[k]].reset_index(drop=True)
            for k, f in frames.items()}


def _pool(frames: Iterable[pd.DataFrame], columns: list[str], order: list[str],
          what: str) -> pd.DataFrame:
    frames = [f[columns] for f in frames]
    if not frames:
        raise ValueError(f"no {what} tables to pool")
    df = pd.concat(frames, ignore_index=True)
    if df.duplicated(order).any():
        raise ValueError(f"{what}: a measurement appears in two tables")
    return df.sort_values(order, kind="mergesort").reset_index(drop=True)


def grammar_aggregate(tables: Mapping[str, Iterable[pd.DataFrame]], *, min_grammatical: float,
                      class_tolerance: float) -> dict[str, pd.DataFrame]:
    """The sweeps' tables (name -> one frame per denoiser) pooled, sorted by model, P and level,
    and the ``gap`` table of every MDLM against the exact posterior (:func:`grammar_gap`)."""
    order = {"kept": ["observable"], "correlations": ["distance"], "susceptibility": []}
    out = {name: _pool(frames, GRAMMAR_TABLES[name], ["model", "P", "level"] + order[name], name)
           for name, frames in tables.items()}
    out["gap"] = grammar_gap(out["kept"], out["susceptibility"], min_grammatical=min_grammatical,
                             class_tolerance=class_tolerance)
    return out


def grammar_gap(kept: pd.DataFrame, susceptibility: pd.DataFrame, *, min_grammatical: float,
                class_tolerance: float) -> pd.DataFrame:
    """Every MDLM against the exact posterior, per (P, level) (:data:`MDLM_GRAMMAR_GAP_COLUMNS`):
    the grammatical fraction and its Wilson interval, class kept of both and the gap (model minus
    exact), chi of both with their intervals and the gap; ``exact_peak`` at the level of the exact
    chi's largest value; ``grammatical_ok`` (Wilson lower bound >= ``min_grammatical``),
    ``class_ok`` (|gap| <= ``class_tolerance``), ``chi_within`` (|gap| at most the sum of the
    half-widths of the two intervals on the gap's side)."""
    def wide(frame, model):
        return frame[frame["model"] == model]

    k = kept.pivot_table(index=["model", "P", "level"], columns="observable",
                         values=["value", "lo", "hi"]).reset_index()
    k.columns = ["_".join(c).strip("_") for c in k.columns]
    chi = susceptibility[["model", "P", "level", "chi", "chi_lo", "chi_hi"]]
    ex_k, ex_chi = wide(k, "exact"), wide(chi, "exact")
    if ex_k.empty or ex_chi.empty:
        raise ValueError("the tables hold no exact rows to compare with")
    peak = float(ex_chi.loc[ex_chi["chi"].idxmax(), "level"])
    rows = []
    for (P, level), m in wide(k, "mdlm").groupby(["P", "level"], sort=True):
        e = ex_k[ex_k["level"] == level]
        cm = chi[(chi["model"] == "mdlm") & (chi["P"] == P) & (chi["level"] == level)]
        ce = ex_chi[ex_chi["level"] == level]
        if e.empty or ce.empty or cm.empty:
            raise ValueError(f"level {level}: no exact or no chi row to compare P={P} with")
        m, e, cm, ce = m.iloc[0], e.iloc[0], cm.iloc[0], ce.iloc[0]
        gap = float(cm["chi"] - ce["chi"])
        err = (cm["chi"] - cm["chi_lo"] + ce["chi_hi"] - ce["chi"] if gap > 0
               else cm["chi_hi"] - cm["chi"] + ce["chi"] - ce["chi_lo"])
        rows.append({"P": int(P), "level": float(level), "grammatical": m["value_grammatical"],
                     "grammatical_lo": m["lo_grammatical"], "grammatical_hi": m["hi_grammatical"],
                     "class_model": m["value_class"], "class_exact": e["value_class"],
                     "class_gap": m["value_class"] - e["value_class"],
                     "chi_model": cm["chi"], "chi_model_lo": cm["chi_lo"],
                     "chi_model_hi": cm["chi_hi"], "chi_exact": ce["chi"],
                     "chi_exact_lo": ce["chi_lo"], "chi_exact_hi": ce["chi_hi"], "chi_gap": gap,
                     "exact_peak": bool(level == peak),
                     "grammatical_ok": bool(m["lo_grammatical"] >= min_grammatical),
                     "class_ok": bool(abs(m["value_class"] - e["value_class"]) <= class_tolerance),
                     "chi_within": bool(abs(gap) <= err)})
    return pd.DataFrame(rows, columns=MDLM_GRAMMAR_GAP_COLUMNS)


# ----------------------------------------------------------------------------- text
def _corpus(path):
    from hierphase.text.corpus import default_corpus, read_corpus

    return default_corpus() if path is None else read_corpus(path, "mdlm.text.corpus")


def text_data(corpus=None, *, kind: str, vocab_size: int, holdout: float, n_passages: int,
              length: int, seed: int) -> tuple[dict, str]:
    """The text experiment's data (:func:`hierphase.text.experiment.prepare_text`): the corpus at
    ``corpus`` (None: the one shipped in the package), a tokenizer trained on it, the training
    windows and ``n_passages`` held-out passages of ``length`` tokens with their shuffled copies.
    Returns the arrays (for :func:`hierphase.io.save_tensors`) and the tokenizer's JSON."""
    import torch

    from hierphase.text.experiment import prepare_text

    c = _corpus(corpus)
    d = prepare_text(c, derive_seed(int(seed), "passages"), kind=kind, vocab_size=int(vocab_size),
                     holdout=float(holdout), n_passages=int(n_passages), length=int(length))
    log.info("%s: %d training windows of %d tokens, %d passages, vocabulary %d", c.name,
             d.train_windows.shape[0], length, n_passages, d.tokenizer.vocab_size)
    return ({"train": torch.from_numpy(d.train_windows), "passages": torch.from_numpy(d.passages),
             "shuffled": torch.from_numpy(d.shuffled), "vocab_size": d.tokenizer.vocab_size},
            d.tokenizer.to_json())


def train_text_model(data: Mapping, *, network: Mapping, training: Mapping, seed: int, model_path,
                     loss_parquet, loss_csv, device: str = "cpu",
                     config: Mapping | None = None) -> None:
    """An MDLM over the tokenizer's ids and the mask (the last id) trained on the training windows
    of ``data`` (:func:`text_data`)."""
    V = int(data["vocab_size"])
    train = data["train"].long()
    _train(train, V, _network(V + 1, network), training, seed, model="text", P=train.shape[0],
           model_path=model_path, loss_parquet=loss_parquet, loss_csv=loss_csv, device=device,
           config=config or {})


def _protocol(denoiser, rows, model: str, levels, n_maskings, cutoffs, n_boot,
              seed) -> dict[str, pd.DataFrame]:
    from hierphase.text.protocol import change_correlations

    cut = [None if R is None else int(R) for R in cutoffs]
    out = change_correlations(denoiser, np.asarray(rows), [float(t) for t in levels],
                              int(n_maskings), derive_seed(int(seed), "protocol"), cutoffs=cut,
                              n_boot=int(n_boot))
    for t, g in out.chi[out.chi["cutoff"] == "all"].groupby("t"):
        log.info("%s t/T=%.3g: chi %.4g, xi %.3g, changed %.3f", model, t, g["chi"].iloc[0],
                 g["xi"].iloc[0], g["changed"].iloc[0])
    return {"curves": out.curves.assign(model=model)[MDLM_TEXT_CURVE_COLUMNS],
            "chi": out.chi.assign(model=model)[MDLM_TEXT_CHI_COLUMNS]}


def text_protocol(model: str, data: Mapping, levels: Sequence[float], *, n_maskings: int,
                  cutoffs: Sequence[int | None], n_boot: int, seed: int, model_path=None,
                  ngram: Mapping | None = None, steps: int | None = None, batch_size: int = 256,
                  device: str = "cpu") -> dict[str, pd.DataFrame]:
    """The follow-up's protocol (:func:`hierphase.text.protocol.change_correlations`) on the
    passages of ``data`` for one denoiser ``model``: ``mdlm`` (the MDLM at ``model_path``),
    ``shuffled`` (the same MDLM on the passages shuffled within each), ``ngram`` (the n-gram
    control of ``ngram`` = order, alpha fitted to the training windows, exact forward-backward).
    ``seed`` is the same for every model: they see the same masks. Tables :data:`TEXT_TABLES`."""
    if model in ("mdlm", "shuffled"):
        if model_path is None:
            raise ValueError(f"model {model!r} needs the MDLM's model_path")
        den = _model_denoiser(model_path, steps, batch_size, device)
    elif model == "ngram":
        from hierphase.text.ngram import fit_ngram

        ng = dict(ngram or {})
        fitted = fit_ngram([data["train"].numpy().reshape(-1)], int(ng["order"]),
                           int(data["vocab_size"]), float(ng["alpha"]))
        den = fitted.denoiser()
    else:
        raise ValueError(f"model must be 'mdlm', 'shuffled' or 'ngram', got {model!r}")
    rows = data["shuffled" if model == "shuffled" else "passages"].numpy()
    return _protocol(den, rows, model, levels, n_maskings, cutoffs, n_boot, seed)


def published_protocol(checkpoint, tokenizer, corpus, levels: Sequence[float], *, n_passages: int,
                       length: int, n_maskings: int, cutoffs: Sequence[int | None], n_boot: int,
                       seed: int, n_heads: int, use_ema: bool, steps: int | None = None,
                       batch_size: int = 256, device: str = "cpu") -> dict[str, pd.DataFrame]:
    """The protocol for a published MDLM checkpoint (:func:`hierphase.mdlm.published.load_published`
    of ``checkpoint``; ``n_heads``, ``use_ema`` as there) on ``n_passages`` passages of ``length``
    tokens of ``corpus`` (None: the shipped corpus) in its own ``tokenizer`` (a tokenizer.json,
    e.g. GPT-2's), drawn from the whole token stream. Tables :data:`TEXT_TABLES`, model
    ``published``."""
    from hierphase.devices import resolve_device
    from hierphase.mdlm.diffusion import ModelDenoiser
    from hierphase.mdlm.published import load_published
    from hierphase.text.corpus import load_tokenizer, passages

    device = resolve_device(device, key="mdlm.device")
    pub = load_published(checkpoint, n_heads=int(n_heads), use_ema=bool(use_ema), device=device)
    tok = load_tokenizer(tokenizer, "mdlm.published.tokenizer")
    if tok.vocab_size > pub.mask_id:
        raise ValueError(f"mdlm.published.tokenizer: {tok.vocab_size} ids, but the checkpoint's "
                         f"mask is id {pub.mask_id}: not this checkpoint's tokenizer")
    ids = tok.encode(_corpus(corpus).text)
    rows = passages(ids, int(n_passages), int(length), derive_seed(int(seed), "passages"))
    den = ModelDenoiser(pub.net, pub.mask_id, steps=steps, batch_size=int(batch_size),
                        device=device)
    return _protocol(den, rows, "published", levels, n_maskings, cutoffs, n_boot, seed)


def text_aggregate(tables: Mapping[str, Iterable[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The protocol's tables (name -> one frame per model) pooled, and the ``peaks`` table
    (:func:`text_peaks`) of the pooled chi."""
    out = {"curves": _pool(tables["curves"], MDLM_TEXT_CURVE_COLUMNS, ["model", "t", "distance"],
                           "curves"),
           "chi": _pool(tables["chi"], MDLM_TEXT_CHI_COLUMNS, ["model", "R", "t"], "chi")}
    out["peaks"] = text_peaks(out["chi"])
    return out


def text_peaks(chi: pd.DataFrame) -> pd.DataFrame:
    """Per (model, cutoff): the level of chi's largest value with that value and its interval,
    and xi's largest value with its level and interval (the first level on ties)."""
    rows = []
    for (model, R), g in chi.sort_values(["model", "R", "t"], kind="mergesort").groupby(
            ["model", "R"], sort=True):
        row = {"model": model, "cutoff": g["cutoff"].iloc[0], "R": float(R)}
        for col, (t, lo, hi, what) in (("chi", ("t_chi_peak", "chi_peak_lo", "chi_peak_hi",
                                                 "chi_peak")),
                                       ("xi", ("t_xi_max", "xi_max_lo", "xi_max_hi", "xi_max"))):
            ok = g[g[col].notna()]
            if ok.empty:
                row.update({t: math.nan, what: math.nan, lo: math.nan, hi: math.nan})
                continue
            best = ok.loc[ok[col].idxmax()]
            row.update({t: float(best["t"]), what: float(best[col]), lo: float(best[f"{col}_lo"]),
                        hi: float(best[f"{col}_hi"])})
        rows.append(row)
    return pd.DataFrame(rows, columns=MDLM_TEXT_PEAK_COLUMNS)
