"""Forward-backward experiments on grammar sentences, one noise level per call: what is kept,
change correlations in token distance, and whether tokens that change together sit in one
constituent of the true tree.

A *denoiser* is a :class:`~hierphase.grammar.pcfg.Grammar` (the exact posterior by
inside-outside) or an :class:`~hierphase.grammar.hmm.HMM` (the control without hierarchy, exact by
forward-backward). One forward-backward step: noise the clean tokens (``process`` and ``level`` as
in :func:`hierphase.noise.forward_evidence`; masks independent per token), then draw one exact
posterior sample. Every draw comes from ``seed`` through :func:`hierphase.seeding.derive_seed`.

Heights: in a tree, a width-1 span (a preterminal over its token) has height 0, any other
constituent ``1 +`` the larger height of its two children; the root has the largest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import correlations as _corr
from .. import noise
from ..seeding import derive_seed
from ..stats import influence_se, ratio_influence
from ..tables import COCHANGE_COLUMNS
from ._checks import check_count
from .hmm import HMM, hmm_posterior, hmm_sample_posterior
from .inside import Trees, posterior, sample_posterior, span_chart
from .pcfg import Grammar

__all__ = ["KEPT_COLUMNS", "COCHANGE_COLUMNS", "tree_heights", "noisy_evidence", "kept_table",
           "summarise_kept", "change_spins", "change_correlations", "enclosing_constituents",
           "constituent_cochange"]

KEPT_COLUMNS = ["sentence", "observable", "height", "kept", "probability", "n_items"]
#: Largest labelled-span posterior (b, n, n, N) computed at once by :func:`kept_table`, bytes.
SPAN_BYTES = 1 << 28


def _check_model(model):
    if not isinstance(model, (Grammar, HMM)):
        raise TypeError(f"model must be a Grammar or an HMM, got {type(model).__name__}")
    return model


def _check_trees(trees: Trees) -> tuple[torch.Tensor, torch.Tensor]:
    tokens, spans = torch.as_tensor(trees.tokens).long(), torch.as_tensor(trees.spans).long()
    if tokens.dim() != 2 or spans.shape != (tokens.shape[0], 2 * tokens.shape[1] - 1, 3):
        raise ValueError(f"trees: tokens (b, n) and spans (b, 2n-1, 3) expected, got "
                         f"{tuple(tokens.shape)} and {tuple(spans.shape)}")
    return tokens, spans


def tree_heights(spans: torch.Tensor) -> torch.Tensor:
    """Heights (b, 2n-1) of the constituents of trees given as preorder spans (b, 2n-1, 3)."""
    spans = torch.as_tensor(spans).long()
    b, m, _ = spans.shape
    heights = torch.zeros((b, m), dtype=torch.long)
    rows = torch.arange(b)
    for j in range(m - 2, -1, -1):  # children come after their parent in preorder
        inner = spans[:, j, 1] > 1
        if not bool(inner.any()):
            continue
        left = j + 1
        right = (left + 2 * spans[:, min(left, m - 1), 1] - 1).clamp(max=m - 1)
        h = 1 + torch.maximum(heights[:, min(left, m - 1)], heights[rows, right])
        heights[:, j] = torch.where(inner, h, 0)
    return heights


def noisy_evidence(tokens, n_terminals: int, process: str, level: float, seed: int,
                   schedule: noise.GaussianSchedule | None = None) -> torch.Tensor:
    """Log-evidence (b, n, V) of noised sentences (independent masks for masking)."""
    return noise.forward_evidence(process, tokens, n_terminals, level,
                                  derive_seed(int(seed), "grammar.noise"), schedule=schedule,
                                  independent_masks=True)


def _sample_tokens(model, ev: torch.Tensor, seed: int, n_samples: int | None = None):
    if isinstance(model, Grammar):
        return sample_posterior(model, ev, seed, n_samples=n_samples)
    return hmm_sample_posterior(model, ev, seed, n_samples=n_samples)


def kept_table(model, trees: Trees, process: str, level: float, seed: int,
               schedule: noise.GaussianSchedule | None = None) -> pd.DataFrame:
    """One forward-backward step on each sentence of ``trees`` (true tokens and parse trees, as
    from :func:`hierphase.grammar.sample_sentences`); per sentence, what one posterior sample keeps
    (``kept``) and the posterior probability of the truth (``probability``), as a tidy table
    (:data:`KEPT_COLUMNS`):

    * ``observable="root"`` (grammar only): the root symbol (the class);
    * ``"tokens"``: the fraction of tokens kept and their mean posterior probability;
    * ``"constituent"`` with ``height`` h (grammar only): the true tree's labelled constituents
      of height h (the same span with the same symbol in the sample; their posterior marginal).

    ``n_items`` counts what each row averages (``height`` is -1 on root and token rows)."""
    model = _check_model(model)
    tokens, spans = _check_trees(trees)
    b, n = tokens.shape
    ev = noisy_evidence(tokens, model.n_terminals, process, level, seed, schedule)
    sample = _sample_tokens(model, ev, derive_seed(int(seed), "grammar.kept.sample"))
    tok_kept = (sample.tokens == tokens).double().mean(1)
    sentence = torch.arange(b)
    frames = []
    if isinstance(model, HMM):
        tok_prob = hmm_posterior(model, ev).tokens.gather(-1, tokens.unsqueeze(-1))[..., 0]
    else:
        N = model.n_nonterminals
        per = max(1, SPAN_BYTES // (8 * n * n * N))
        heights = tree_heights(spans)
        sampled = span_chart(sample.spans, n)
        tok_prob = torch.empty((b, n), dtype=torch.float64)
        span_prob = torch.empty((b, 2 * n - 1), dtype=torch.float64)
        root_prob = torch.empty(b, dtype=torch.float64)
        for lo in range(0, b, per):
            hi = min(b, lo + per)
            post = posterior(model, ev[lo:hi])
            tok_prob[lo:hi] = post.tokens.gather(-1, tokens[lo:hi].unsqueeze(-1))[..., 0]
            s = spans[lo:hi]
            r = torch.arange(hi - lo).unsqueeze(1)
            span_prob[lo:hi] = post.spans[r, s[..., 0], s[..., 1] - 1, s[..., 2]]
            root_prob[lo:hi] = post.root[torch.arange(hi - lo), s[:, 0, 2]]
        rows = sentence.unsqueeze(1)
        span_kept = (sampled[rows, spans[..., 0], spans[..., 1] - 1] == spans[..., 2]).double()
        frames.append(pd.DataFrame({
            "sentence": sentence.numpy(), "observable": "root", "height": -1,
            "kept": (sample.spans[:, 0, 2] == spans[:, 0, 2]).double().numpy(),
            "probability": root_prob.numpy(), "n_items": 1}))
        for h in range(int(heights.max()) + 1):
            at = (heights == h).double()
            count = at.sum(1)
            has = count > 0
            frames.append(pd.DataFrame({
                "sentence": sentence[has].numpy(), "observable": "constituent", "height": h,
                "kept": ((span_kept * at).sum(1)[has] / count[has]).numpy(),
                "probability": ((span_prob * at).sum(1)[has] / count[has]).numpy(),
                "n_items": count[has].long().numpy()}))
    frames.insert(0, pd.DataFrame({
        "sentence": sentence.numpy(), "observable": "tokens", "height": -1,
        "kept": tok_kept.numpy(), "probability": tok_prob.mean(1).numpy(), "n_items": n}))
    out = pd.concat(frames, ignore_index=True)[KEPT_COLUMNS]
    return out.astype({"sentence": "int64", "height": "int64", "n_items": "int64"})


def summarise_kept(table: pd.DataFrame) -> pd.DataFrame:
    """Per (observable, height): the item-weighted means of ``kept`` and ``probability`` over
    sentences, their standard errors over sentences, and the counts."""
    rows = []
    for (obs, h), g in table.groupby(["observable", "height"], sort=True):
        w = g["n_items"].to_numpy(np.float64)
        out = {"observable": obs, "height": int(h), "n_sentences": len(g), "n_items": int(w.sum())}
        for col in ("kept", "probability"):
            # a ratio of sums over independent sentences, with the delta method's error
            mean, influence = ratio_influence(w * g[col].to_numpy(np.float64), w)
            out[col], out[f"{col}_se"] = float(mean), float(influence_se(influence))
        rows.append(out)
    return pd.DataFrame(rows, columns=["observable", "height", "kept", "kept_se", "probability",
                                       "probability_se", "n_sentences", "n_items"])


def change_spins(model, x0, process: str, level: float, n_traj: int, seed: int,
                 schedule: noise.GaussianSchedule | None = None) -> np.ndarray:
    """Change spins (n_x0, n_traj, n) int8 of ``n_traj`` forward-backward trajectories from each
    sentence of ``x0`` (n_x0, n): +1 where the sample differs from x0 (see
    :func:`hierphase.correlations.change_spins`). Trajectory t of x0 i is noised with
    ``derive_seed(seed, i)`` (all of x0 i's trajectories in one batch) and sampled likewise."""
    model = _check_model(model)
    x0 = torch.as_tensor(x0).long()
    if x0.dim() != 2:
        raise ValueError(f"x0 must have shape (n_x0, n), got {tuple(x0.shape)}")
    n_traj = check_count("n_traj", n_traj, 2)
    hats = []
    for i in range(x0.shape[0]):
        rep = x0[i].unsqueeze(0).expand(n_traj, -1)
        ev = noisy_evidence(rep, model.n_terminals, process, level, derive_seed(int(seed), i),
                            schedule)
        hats.append(_sample_tokens(model, ev, derive_seed(int(seed), "grammar.traj", i)).tokens)
    return _corr.change_spins(x0, torch.stack(hats))


def change_correlations(spins: np.ndarray, n_boot: int, seed: int) -> _corr.Correlations:
    """C(r) in token distance, chi and xi with bootstrap intervals over x0: the chain estimator
    :func:`hierphase.correlations.lattice_correlations` (open chain) on spins (n_x0, n_traj, n)."""
    return _corr.lattice_correlations(spins, periodic=False, n_boot=n_boot, seed=seed)


def enclosing_constituents(spans: torch.Tensor, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For one tree (spans (2n-1, 3) in preorder): the width and the height of the smallest
    constituent containing both tokens i and j, two (n, n) int arrays (the diagonal: the token's
    own width-1 span, height 0)."""
    spans = torch.as_tensor(spans).long()
    heights = tree_heights(spans.unsqueeze(0))[0].numpy()
    width = np.full((n, n), n, dtype=np.int64)
    height = np.full((n, n), int(heights[0]), dtype=np.int64)
    order = np.argsort(-spans[:, 1].numpy(), kind="stable")  # widest first, narrower overwrite
    s = spans.numpy()
    for j in order:
        i, w = s[j, 0], s[j, 1]
        width[i:i + w, i:i + w] = w
        height[i:i + w, i:i + w] = heights[j]
    return width, height


def constituent_cochange(spins: np.ndarray, trees: Trees) -> pd.DataFrame:
    """Do tokens that change together lie in a smaller constituent of the true tree than pairs at
    the same distance? For each token distance r >= 1, the mean width and height of the smallest
    true constituent containing both tokens of a pair (:func:`enclosing_constituents`), over the
    pairs at distance r of every x0, weighted three ways (column ``weighting``):

    * ``"all"``: every pair once (the distance-matched baseline);
    * ``"co_change"``: by the number of trajectories in which both tokens changed;
    * ``"connected"``: by the connected correlation ``C_ij`` of the change spins (NaN where the
      weights sum to <= 0).

    Each mean is a ratio of sums over the x0, which are independent: its standard error
    (``*_se``) is the delta method's over the x0 (:func:`hierphase.stats.ratio_influence`), and so
    is that of ``width_excess``, the weighting's mean width minus the baseline's on the same x0
    (0 for the baseline itself).

    ``spins`` (n_x0, n_traj, n) from :func:`change_spins`; ``trees`` the x0 with their trees."""
    spins = np.asarray(spins)
    tokens, spans = _check_trees(trees)
    if spins.ndim != 3 or spins.shape[0] != tokens.shape[0] or spins.shape[2] != tokens.shape[1]:
        raise ValueError(f"spins must have shape (n_x0={tokens.shape[0]}, n_traj, "
                         f"n={tokens.shape[1]}), got {spins.shape}")
    n_x0, n_traj, n = spins.shape
    # per weighting and x0, over the distances: weight, weight * width, weight * height
    sums = {k: np.zeros((3, n_x0, n)) for k in ("all", "co_change", "connected")}
    idx = np.arange(n)
    dist = np.abs(idx[:, None] - idx[None, :])
    for i in range(n_x0):
        width, height = enclosing_constituents(spans[i], n)
        changed = (spins[i] == 1).astype(np.float64)
        centred = spins[i].astype(np.float64)
        centred -= centred.mean(0)
        weights = {"all": np.ones((n, n)), "co_change": changed.T @ changed,
                   "connected": centred.T @ centred / n_traj}
        for k, w in weights.items():
            for row, x in enumerate((w, w * width, w * height)):
                sums[k][row, i] = np.bincount(dist.ravel(), weights=x.ravel(), minlength=n)
    n_pairs = 2 * (n - np.arange(n))
    base_width, base_influence = ratio_influence(sums["all"][1], sums["all"][0])
    frames = []
    for k, s in sums.items():
        width, width_influence = ratio_influence(s[1], s[0])
        height, height_influence = ratio_influence(s[2], s[0])
        excess_influence = width_influence - base_influence
        frames.append(pd.DataFrame({
            "r": np.arange(1, n), "weighting": k,
            "mean_enclosing_width": width[1:],
            "mean_enclosing_width_se": influence_se(width_influence)[1:],
            "mean_lca_height": height[1:],
            "mean_lca_height_se": influence_se(height_influence)[1:],
            "width_excess": (width - base_width)[1:],
            "width_excess_se": influence_se(excess_influence)[1:],
            "weight": s[0].sum(0)[1:], "n_pairs": n_pairs[1:] * n_x0, "n_x0": n_x0}))
    return pd.concat(frames, ignore_index=True)[COCHANGE_COLUMNS]
