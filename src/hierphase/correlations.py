"""Change correlations between tokens: connected correlation C(r), susceptibility chi, length xi.

Forward-backward diffusion from one datum ``x0`` is run ``n_traj`` times; each run returns
``x̂0``. Site ``i`` *changed* in a run when ``x̂0_i != x0_i``; its change spin is
``sigma_i = +1`` then and ``-1`` otherwise (:func:`change_spins`; on the RHM every latent level
has its own spins, :func:`tree_change_spins`). Continuous changes (a float per site, e.g.
``|z_i - ẑ_i|``, :func:`continuous_changes`) go through the same estimators unchanged; a site
whose change is the same in every trajectory (always, never, or by the same amount)
contributes exactly 0.

Connected correlation, for one ``x0``, averages over its trajectories (population moments)::

    C_ij = <sigma_i sigma_j> - <sigma_i><sigma_j> = (1/n_traj) sum_t c_ti c_tj,
    c_ti = sigma_ti - <sigma_i>  (the centred spins).

A change that happens in every run (or never) contributes nothing. ``C_ij`` is then averaged
over ``x0``. Nothing here ever holds a ``(d, d)`` matrix: for each ``x0`` we compute the *pair
sums* ``P(b) = sum of C_ij over the ordered pairs (i, j) in distance bin b`` directly:

* Tree (sites = the ``s**l`` nodes of level ``l`` of an RHM tree). Nodes ``i, j`` are at tree
  distance ``k`` when their lowest common ancestor is ``k`` levels up (``k = 0``: ``i = j``); we
  write ``r = s**k - 1``, the index distance of the farthest pair at that tree distance. Nodes in
  the same block ``{b s**k, .., (b+1) s**k - 1}`` are exactly those at tree distance ``<= k``, so
  with the block sums ``B_tb^(k) = sum_{i in block b} c_ti``::

      T(k) = sum_{i, j at tree distance <= k} C_ij = (1/n_traj) sum_t sum_b (B_tb^(k))**2,
      P(k) = T(k) - T(k - 1),  T(-1) = 0,  P(0) = sum_i C_ii.

  Block sums of size ``s**k`` come from those of size ``s**(k-1)`` by summing ``s`` neighbours,
  so one x0 costs ``O(n_traj * s**l)`` per ``k``, ``O(n_traj * d * L)`` in all. The number of
  ordered pairs at tree distance ``k`` is ``N(k) = s**l * (s**k - s**(k-1))`` (``s**l`` at 0).
* Lattice (sites on a 1-D chain or a 2-D grid, periodic or open). The displacement sums
  ``A(delta) = sum_i C_{i, i+delta}`` are the autocorrelation of the centred spins, summed over
  trajectories: ``A = irfftn(sum_t |rfftn(c_t)|**2) / n_traj`` on the periodic lattice, on the
  lattice zero-padded to ``2 n - 1`` per axis when open, ``O(n_traj * d log d)`` per x0.
  Displacements are binned by Euclidean distance, per axis the minimum image when periodic;
  ``r`` is the distance; ``distance`` the exact integer bin key: ``|i - j|`` on a chain, the
  squared distance on a grid (and other dimensions).

From the pair sums averaged over x0, ``Pbar(b)``:

* ``C(b) = Pbar(b) / N(b)``, the mean connected correlation of a pair in bin ``b`` (``C(0)`` is
  the mean variance of a site).
* Susceptibility ``chi = sum_ij C_ij / sum_i C_ii = sum_b Pbar(b) / Pbar(0)`` (``variant="full"``,
  the whole double sum, diagonal included): the typical number of sites that change together;
  independent sites give 1, sites that change in rigid blocks of size ``n`` give ``n``. It is a
  ratio of x0-averages (not an average of per-x0 ratios), so an ``x0`` whose sites never
  fluctuate weighs nothing instead of making the ratio undefined. ``variant="upper"`` is the
  upper triangle ``i <= j`` summed in the authors' notebook,
  ``sum_{i<=j} C_ij / sum_i C_ii = (chi + 1) / 2`` because ``C`` is symmetric.
* Correlation length, the second moment of ``C`` over pairs::

      xi**2 = sum_ij r_ij**2 C_ij / sum_ij C_ij = sum_b r_b**2 Pbar(b) / sum_b Pbar(b),

  i.e. the mean squared distance between two sites, each pair weighted by how much they change
  together. Why this one: it needs no fit and no functional form of ``C(r)`` (which is a power
  law at criticality, where an exponential fit has no meaning), it uses every pair, and it is
  proportional to the block size when sites change in blocks (rigid blocks of ``b`` consecutive
  sites on a chain give ``xi**2 = (b**2 - 1) / 6``), so ``xi ~ |eps - eps*|**-nu`` whenever
  ``C`` obeys a scaling form with a cut-off ``xi``. It is undefined (NaN, with the reason) when
  ``sum_ij C_ij <= 0`` (no co-fluctuation to weigh, or anticorrelations dominate) or when the
  numerator is negative.

Error bars: a bootstrap over x0 (resample the x0 with replacement ``n_boot`` times, recompute
every statistic from the resampled per-x0 pair sums; the same resamples for every level and
statistic; ``numpy.random.default_rng(seed)``, so the intervals are deterministic in ``seed``),
percentile intervals at ``confidence``; resamples where a ratio is undefined are left out.

Tables (tidy, one row per level and bin, and per level): :data:`CORRELATION_COLUMNS` and
:data:`SUSCEPTIBILITY_COLUMNS`; callers add their own identifying columns (family, noise, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CORRELATION_COLUMNS",
    "SUSCEPTIBILITY_COLUMNS",
    "Bins",
    "Correlations",
    "Length",
    "change_spins",
    "tree_change_spins",
    "continuous_changes",
    "tree_bins",
    "lattice_bins",
    "tree_pair_sums",
    "lattice_pair_sums",
    "susceptibility",
    "correlation_length",
    "summarise",
    "tree_correlations",
    "lattice_correlations",
]

CORRELATION_COLUMNS = ["level", "distance", "r", "C", "C_lo", "C_hi", "n_x0", "n_traj"]
SUSCEPTIBILITY_COLUMNS = ["level", "chi", "chi_lo", "chi_hi", "xi", "xi_lo", "xi_hi",
                          "n_x0", "n_traj"]
VARIANTS = ("full", "upper")
#: The estimated columns of the two tables (NaN where nothing could be estimated).
_STATISTICS = ("C", "C_lo", "C_hi", "chi", "chi_lo", "chi_hi", "xi", "xi_lo", "xi_hi")


# ----------------------------------------------------------------------------- spins
def _array(x, name: str) -> np.ndarray:
    """A numpy view of an array or (CPU or device) torch tensor."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - reported with the argument's name
        raise ValueError(f"{name} must be an array, got {type(x).__name__}") from exc


def _floats(x, name: str) -> np.ndarray:
    try:
        return _array(x, name).astype(np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be numbers: {err}") from None


def change_spins(x0, x0_hat) -> np.ndarray:
    """``+1`` where ``x0_hat`` differs from ``x0``, ``-1`` where not (int8).

    ``x0``: ``(n_x0, *sites)``; ``x0_hat``: ``(n_x0, n_traj, *sites)``, the ``n_traj``
    forward-backward outputs of each ``x0``. Returns the shape of ``x0_hat``.
    """
    x0, x0_hat = _array(x0, "x0"), _array(x0_hat, "x0_hat")
    if x0.ndim < 2 or x0_hat.ndim != x0.ndim + 1 or x0_hat.shape[0] != x0.shape[0] \
            or x0_hat.shape[2:] != x0.shape[1:]:
        raise ValueError(f"x0_hat must have shape (n_x0, n_traj, *sites) = "
                         f"({x0.shape[0] if x0.ndim else '?'}, n_traj, "
                         f"{', '.join(map(str, x0.shape[1:]))}) to match x0 of shape "
                         f"{tuple(x0.shape)} (n_x0, *sites); got {tuple(x0_hat.shape)}")
    return np.where(x0_hat != x0[:, None], 1, -1).astype(np.int8)


def tree_change_spins(trees: Sequence, trees_hat: Sequence) -> list[np.ndarray]:
    """:func:`change_spins` at every level of RHM trees.

    ``trees[l]``: ``(n_x0, s**l)`` (the format of :func:`hierphase.rhm.sample_trees`);
    ``trees_hat[l]``: ``(n_x0, n_traj, s**l)``. Returns one ``(n_x0, n_traj, s**l)`` array per level.
    """
    if len(trees) != len(trees_hat):
        raise ValueError(f"trees_hat has {len(trees_hat)} levels, trees has {len(trees)}")
    out = []
    for level, (x0, x0_hat) in enumerate(zip(trees, trees_hat)):
        try:
            out.append(change_spins(x0, x0_hat))
        except ValueError as exc:
            raise ValueError(f"trees_hat[{level}]: {exc}") from None
    return out


def continuous_changes(z0, z_hat, feature_axis: int | None = None) -> np.ndarray:
    """Continuous change per site: ``|z_hat - z0|``, or with ``feature_axis`` the root mean
    square over that axis of ``z_hat`` (``||z_i - ẑ_i|| / sqrt(n_features)``).

    Shapes as in :func:`change_spins`: ``z0`` ``(n_x0, *sites[, features])``, ``z_hat`` with the
    trajectory axis after the first. Returns float64 ``(n_x0, n_traj, *sites)``.
    """
    z0, z_hat = _array(z0, "z0"), _array(z_hat, "z_hat")
    if z0.ndim < 2 or z_hat.ndim != z0.ndim + 1 or z_hat.shape[0] != z0.shape[0] \
            or z_hat.shape[2:] != z0.shape[1:]:
        raise ValueError(f"z_hat must have shape (n_x0, n_traj) + z0.shape[1:] for z0 of shape "
                         f"{tuple(z0.shape)}; got {tuple(z_hat.shape)}")
    from .checks import check_finite

    diff = check_finite(z_hat, "z_hat") - check_finite(z0, "z0")[:, None]
    if feature_axis is None:
        return np.abs(diff)
    axis = _check_int(feature_axis, "feature_axis", -z_hat.ndim) % z_hat.ndim
    if axis < 2:
        raise ValueError(f"feature_axis must be a site axis of z_hat (>= 2), got {feature_axis}")
    return np.sqrt(np.mean(diff**2, axis=axis))


# ----------------------------------------------------------------------------- bins
@dataclass(frozen=True, eq=False)
class Bins:
    """Distance bins of one geometry: integer key, distance ``r``, ordered pairs per bin."""

    distance: np.ndarray  # int64 (n_bins,): tree distance k; |i - j| on a chain; squared on a grid
    r: np.ndarray  # float64 (n_bins,)
    n_pairs: np.ndarray  # int64 (n_bins,): ordered pairs (i, j), the diagonal in bin 0


def _check_int(value, name: str, minimum: int, maximum: int = 2**62) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an int in [{minimum}, {maximum}], got {value!r}")
    return int(value)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _check_variant(variant) -> str:
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return variant


def tree_bins(s: int, level: int) -> Bins:
    """Bins of the ``s**level`` nodes of one tree level: tree distance ``k = 0..level``."""
    s, level = _check_int(s, "s", 2), _check_int(level, "level", 0)
    if level * (s.bit_length() - 1) >= 62:
        raise ValueError(f"level: s**level nodes must stay below 2**62, got s={s}, level={level}")
    k = np.arange(level + 1, dtype=np.int64)
    width = s**k
    n_pairs = s**level * np.where(k == 0, 1, width - width // s)
    return Bins(distance=k, r=(width - 1).astype(np.float64), n_pairs=n_pairs.astype(np.int64))


def _lattice_geometry(shape: tuple[int, ...], periodic: bool):
    """Per displacement of the (padded) FFT grid: bin index; and the Bins."""
    grids = []
    for n in shape:
        if periodic:
            delta = np.arange(n)
            grids.append((np.minimum(delta, n - delta), np.full(n, n)))
        else:
            size = 2 * n - 1
            delta = np.arange(size)
            delta = np.where(delta < n, delta, delta - size)
            grids.append((np.abs(delta), n - np.abs(delta)))
    dist2 = np.zeros([len(g[0]) for g in grids], dtype=np.int64)
    count = np.ones_like(dist2)
    for axis, (dist, cnt) in enumerate(grids):
        view = [1] * len(shape)
        view[axis] = -1
        dist2 = dist2 + dist.reshape(view) ** 2
        count = count * cnt.reshape(view)
    keys, index = np.unique(dist2.ravel(), return_inverse=True)
    n_pairs = np.bincount(index, weights=count.ravel(), minlength=len(keys)).astype(np.int64)
    r = np.sqrt(keys.astype(np.float64))
    distance = np.rint(r).astype(np.int64) if len(shape) == 1 else keys.astype(np.int64)
    bins = Bins(distance=distance, r=r, n_pairs=n_pairs)
    return index.reshape(dist2.shape), bins


def _check_shape(shape) -> tuple[int, ...]:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not shape:
        raise ValueError("shape must name at least one lattice axis")
    shape = tuple(_check_int(n, "shape", 1) for n in shape)
    from .checks import check_memory

    check_memory(16 * math.prod(2 * n for n in shape), "shape", f"the lattice geometry of {shape}")
    return shape


def lattice_bins(shape, periodic: bool) -> Bins:
    """Bins of a lattice of ``shape`` (an int for a chain, ``(h, w)`` for a grid)."""
    return _lattice_geometry(_check_shape(shape), _check_bool(periodic, "periodic"))[1]


# ----------------------------------------------------------------------------- pair sums (one x0)
def _centred(spins, name: str) -> np.ndarray:
    """Float64 spins of one x0 minus their mean over trajectories (axis 0)."""
    x = _array(spins, name)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (n_traj, *sites), got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"n_traj (axis 0 of {name}) must be >= 2 to estimate a covariance, "
                         f"got {x.shape[0]}")
    if 0 in x.shape[1:]:
        raise ValueError(f"{name} must have at least one site, got shape {tuple(x.shape)}")
    x = x.astype(np.float64)
    centred = x - x.mean(axis=0)
    # A site equal in every trajectory does not fluctuate: exactly 0, although the float mean of
    # n copies of a continuous value can differ from it by rounding (spins are exact already).
    centred[:, (x == x[0]).all(axis=0)] = 0.0
    return centred


def tree_pair_sums(spins, s: int) -> np.ndarray:
    """Pair sums ``P(k)``, ``k = 0..level``, of one x0 at one tree level (module docstring).

    ``spins``: ``(n_traj, s**level)`` change spins (or continuous changes) of one x0.
    """
    s = _check_int(s, "s", 2)
    c = _centred(spins, "spins")
    if c.ndim != 2:
        raise ValueError(f"spins must have shape (n_traj, s**level), got {tuple(c.shape)}")
    n_traj, n_nodes = c.shape
    level = 0
    while s**level < n_nodes:
        level += 1
    if s**level != n_nodes:
        raise ValueError(f"spins has {n_nodes} sites, not a power of s={s}")
    totals = np.empty(level + 1)
    block = c
    for k in range(level + 1):
        if k:
            block = block.reshape(n_traj, -1, s).sum(axis=2)
        totals[k] = np.einsum("tb,tb->", block, block) / n_traj
    return np.diff(totals, prepend=0.0)


def lattice_pair_sums(spins, periodic: bool, _geometry=None) -> np.ndarray:
    """Pair sums per distance bin (:func:`lattice_bins`) of one x0 on a lattice.

    ``spins``: ``(n_traj, *shape)`` change spins (or continuous changes) of one x0.
    """
    c = _centred(spins, "spins")
    shape = c.shape[1:]
    periodic = _check_bool(periodic, "periodic")
    index, bins = _geometry if _geometry is not None else _lattice_geometry(shape, periodic)
    axes = tuple(range(1, c.ndim))
    size = shape if periodic else tuple(2 * n - 1 for n in shape)
    spectrum = np.fft.rfftn(c, s=size, axes=axes)
    power = (spectrum.real**2 + spectrum.imag**2).sum(axis=0)
    auto = np.fft.irfftn(power, s=size, axes=tuple(range(len(size)))) / c.shape[0]
    return np.bincount(index.ravel(), weights=auto.ravel(), minlength=len(bins.distance))


# ----------------------------------------------------------------------------- statistics
class Length(NamedTuple):
    """Correlation length and, when it is NaN, why."""

    xi: float
    reason: str


def susceptibility(pair_sums, variant: str = "full") -> np.ndarray:
    """chi from x0-averaged pair sums ``(..., n_bins)`` (bin 0 = the diagonal); NaN where
    ``sum_i C_ii = 0``. ``variant``: ``"full"`` (all i, j) or ``"upper"`` (i <= j)."""
    _check_variant(variant)
    p = _floats(pair_sums, "pair_sums")
    if p.ndim < 1 or p.shape[-1] == 0:
        raise ValueError(f"pair_sums must have a non-empty bin axis (..., n_bins), got shape "
                         f"{p.shape}")
    diag, total = p[..., 0], p.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi = np.where(diag > 0, total / np.where(diag > 0, diag, 1.0), np.nan)
    return (chi + 1.0) / 2.0 if variant == "upper" else chi


#: A second moment this far below zero, relative to sum_ij r_ij^2 |C_ij|, is rounding: taken as 0.
_ROUNDING = 1e-12


def _second_moment(pair_sums: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum_ij r_ij^2 C_ij, sum_ij C_ij) over the last axis; rounding below 0 set to 0."""
    second = (pair_sums * r**2).sum(axis=-1)
    scale = (np.abs(pair_sums) * r**2).sum(axis=-1)
    second = np.where((second < 0) & (second >= -_ROUNDING * scale), 0.0, second)
    return second, pair_sums.sum(axis=-1)


def _xi(pair_sums: np.ndarray, r: np.ndarray) -> np.ndarray:
    second, total = _second_moment(pair_sums, r)
    ok = (total > 0) & (second >= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, np.sqrt(np.abs(second) / np.where(ok, total, 1.0)), np.nan)


def correlation_length(pair_sums, r) -> Length:
    """Second-moment correlation length from x0-averaged pair sums (module docstring)."""
    p, r = _floats(pair_sums, "pair_sums"), _floats(r, "r")
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(f"pair_sums and r must be 1-D of the same length, "
                         f"got {p.shape} and {r.shape}")
    second, total = (float(x) for x in _second_moment(p, r))
    if not total > 0:
        return Length(np.nan, f"sum_ij C_ij = {total:.3g} <= 0: no net co-fluctuation to weigh")
    if second < 0:
        return Length(np.nan, f"sum_ij r_ij^2 C_ij = {second:.3g} < 0: anticorrelations dominate")
    return Length(float(np.sqrt(second / total)), "")


def _bootstrap_weights(n_x0: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_x0) resampling frequencies (each row sums to 1)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_x0, np.full(n_x0, 1.0 / n_x0), size=n_boot)
    return counts / n_x0


def _interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    q = 100 * (1 - confidence) / 2
    out_lo = np.full(samples.shape[1:], np.nan)
    out_hi = np.full(samples.shape[1:], np.nan)
    finite = np.isfinite(samples).any(axis=0)
    if finite.any():
        lo, hi = np.nanpercentile(samples[:, finite], [q, 100 - q], axis=0)
        out_lo[finite], out_hi[finite] = lo, hi
    return out_lo, out_hi


class Correlations(NamedTuple):
    """The two tidy tables: C per (level, bin) and chi, xi per level."""

    correlations: pd.DataFrame
    susceptibility: pd.DataFrame


def _check_summary_args(n_boot, seed, confidence):
    _check_int(n_boot, "n_boot", 1)
    _check_int(seed, "seed", 0, 2**63 - 1)
    if not (isinstance(confidence, (float, int)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def summarise(pair_sums, bins: Bins, n_traj: int, *, level=None, n_boot: int = 1000,
              seed: int, confidence: float = 0.95, variant: str = "full") -> Correlations:
    """Tables from per-x0 pair sums ``(n_x0, n_bins)`` (rows from :func:`tree_pair_sums` or
    :func:`lattice_pair_sums`): point estimates from the x0-mean, bootstrap intervals over x0.

    ``level`` fills the ``level`` column (``None``: missing, e.g. for a lattice); ``variant``
    selects the chi of :func:`susceptibility`. The resamples depend on ``(n_x0, n_boot, seed)``
    only, so calls for several levels of the same x0 with one seed resample the same x0.
    """
    import pandas as pd

    from .checks import check_finite, check_memory

    if not isinstance(bins, Bins):
        raise TypeError(f"bins must be a Bins (tree_bins, lattice_bins), got {type(bins).__name__}")
    p = check_finite(pair_sums, "pair_sums")  # a NaN would become every interval's bound
    if level is not None:
        level = _check_int(level, "level", 0)
    if p.ndim != 2 or p.shape[1] != len(bins.distance):
        raise ValueError(f"pair_sums must have shape (n_x0, {len(bins.distance)}), "
                         f"got {tuple(p.shape)}")
    n_x0 = p.shape[0]
    _check_int(n_x0, "n_x0 (rows of pair_sums)", 1)
    _check_int(n_traj, "n_traj", 2)
    _check_summary_args(n_boot, seed, confidence)
    _check_variant(variant)
    check_memory(8 * n_boot * (n_x0 + 3 * p.shape[1]), "n_boot",
                 f"{n_boot} bootstrap resamples of {n_x0} x0")
    weights = _bootstrap_weights(n_x0, n_boot, seed)
    mean, boot = p.mean(axis=0), weights @ p  # (n_bins,), (n_boot, n_bins)
    C_lo, C_hi = _interval(boot / bins.n_pairs, confidence)
    chi_lo, chi_hi = _interval(susceptibility(boot, variant)[:, None], confidence)
    xi_lo, xi_hi = _interval(_xi(boot, bins.r)[:, None], confidence)
    level_value = pd.array([level] * len(bins.distance), dtype="Int64")
    corr = pd.DataFrame({
        "level": level_value, "distance": bins.distance, "r": bins.r,
        "C": mean / bins.n_pairs, "C_lo": C_lo, "C_hi": C_hi,
        "n_x0": n_x0, "n_traj": int(n_traj)})
    chi = pd.DataFrame({
        "level": pd.array([level], dtype="Int64"),
        "chi": [float(susceptibility(mean, variant))], "chi_lo": chi_lo, "chi_hi": chi_hi,
        "xi": [correlation_length(mean, bins.r).xi], "xi_lo": xi_lo, "xi_hi": xi_hi,
        "n_x0": n_x0, "n_traj": int(n_traj)})
    return Correlations(corr[CORRELATION_COLUMNS], chi[SUSCEPTIBILITY_COLUMNS])


# ----------------------------------------------------------------------------- one-call estimators
def _n_traj(first: np.ndarray, name: str) -> int:
    if first.ndim < 3:
        raise ValueError(f"{name} must have shape (n_x0, n_traj, *sites), got {tuple(first.shape)}")
    if first.shape[1] < 2:
        raise ValueError(f"n_traj (axis 1 of {name}) must be >= 2 to estimate a covariance, "
                         f"got {first.shape[1]}")
    return int(first.shape[1])


def tree_correlations(spins: Sequence | Mapping, s: int, *, n_boot: int = 1000, seed: int,
                      confidence: float = 0.95, variant: str = "full",
                      runs=None) -> Correlations:
    """C by tree distance, chi and xi at every level of RHM trees.

    ``spins[l]``: ``(n_x0, n_traj, s**l)`` change spins (:func:`tree_change_spins`) or continuous
    changes: a sequence of levels ``0, 1, ..``, or a mapping ``{level: spins}`` for some levels
    only (e.g. ``{L: leaves}``). One x0 at a time, ``O(n_traj * s**l * l)`` per level; the
    bootstrap resamples the same x0 at every level.

    ``runs``: optional boolean ``(n_x0, n_traj)``, the runs of each x0 that enter (e.g. those
    whose output parses); each x0's C is then estimated from its own selected runs, and an x0
    with fewer than 2 of them is left out (``n_x0`` counts the x0 that enter; ``n_traj`` stays
    the runs made per x0). When no x0 enters, the rows hold NaN statistics and ``n_x0 = 0``.
    """
    import pandas as pd

    s = _check_int(s, "s", 2)
    _check_summary_args(n_boot, seed, confidence)
    if isinstance(spins, (str, bytes)) or not isinstance(spins, (Sequence, Mapping)):
        raise TypeError(f"spins must be a sequence or mapping of levels, got {spins!r}")
    items = sorted(spins.items()) if isinstance(spins, Mapping) else list(enumerate(spins))
    if not items:
        raise ValueError("spins must hold at least one level")
    arrays = {_check_int(level, "level (key of spins)", 0): _array(x, f"spins[{level}]")
              for level, x in items}
    first = min(arrays)
    n_traj = _n_traj(arrays[first], f"spins[{first}]")
    n_x0 = arrays[first].shape[0]
    if n_x0 < 1:
        raise ValueError(f"spins[{first}] holds no x0 (n_x0 = 0)")
    if runs is None:
        entered = np.arange(n_x0)
    else:
        runs = _array(runs, "runs")
        if runs.shape != (n_x0, n_traj) or runs.dtype != np.bool_:
            raise ValueError(f"runs must be a boolean array of shape (n_x0, n_traj) = "
                             f"{(n_x0, n_traj)}, got {runs.dtype} {tuple(runs.shape)}")
        entered = np.flatnonzero(runs.sum(axis=1) >= 2)
    corr, chi = [], []
    for level, x in arrays.items():
        if x.shape != (n_x0, n_traj, s**level):
            raise ValueError(f"spins[{level}] must have shape (n_x0, n_traj, s**{level}) = "
                             f"{(n_x0, n_traj, s**level)}, got {tuple(x.shape)}")
        bins = tree_bins(s, level)
        if runs is None:
            pairs = np.stack([tree_pair_sums(x[i], s) for i in entered])
        elif len(entered):
            pairs = np.stack([tree_pair_sums(x[i][runs[i]], s) for i in entered])
        else:  # nothing to estimate from: the layout of one x0, statistics NaN (below)
            pairs = np.zeros((1, len(bins.distance)))
        out = summarise(pairs, bins, n_traj, level=level, n_boot=n_boot, seed=seed,
                        confidence=confidence, variant=variant)
        if not len(entered):
            out = Correlations(*(frame.assign(n_x0=0, **{c: np.nan for c in frame.columns
                                                        if c in _STATISTICS})
                                 for frame in out))
        corr.append(out.correlations)
        chi.append(out.susceptibility)
    return Correlations(pd.concat(corr, ignore_index=True), pd.concat(chi, ignore_index=True))


def lattice_correlations(spins, periodic: bool, *, level=None, n_boot: int = 1000, seed: int,
                         confidence: float = 0.95, variant: str = "full") -> Correlations:
    """C by distance, chi and xi of sites on a chain or grid.

    ``spins``: ``(n_x0, n_traj, *shape)`` (an array, or an iterable of ``(n_traj, *shape)``
    arrays, one per x0, so that the x0 need not be in memory together). ``level``: the value of
    the ``level`` column (e.g. ``L`` for RHM leaves read as a chain).
    """
    _check_summary_args(n_boot, seed, confidence)
    periodic = _check_bool(periodic, "periodic")
    if isinstance(spins, (str, bytes)) or not isinstance(spins, Iterable):
        raise TypeError(f"spins must be an array or an iterable of arrays, got {spins!r}")
    if hasattr(spins, "shape") or isinstance(spins, np.ndarray):
        arr = _array(spins, "spins")
        _n_traj(arr, "spins")
        items: Iterable = iter(arr)
    else:
        items = iter(spins)
    geometry, n_traj, rows = None, None, []
    for i, x in enumerate(items):
        x = _array(x, f"spins[{i}]")
        if geometry is None:
            if x.ndim < 2:
                raise ValueError(f"spins[{i}] must have shape (n_traj, *shape), "
                                 f"got {tuple(x.shape)}")
            n_traj, shape = x.shape[0], tuple(x.shape[1:])
            if n_traj < 2:
                raise ValueError(f"n_traj (axis 0 of spins[{i}]) must be >= 2, got {n_traj}")
            geometry = _lattice_geometry(_check_shape(shape), periodic)
        elif x.shape != (n_traj, *shape):
            raise ValueError(f"spins[{i}] has shape {tuple(x.shape)}, the first x0 had "
                             f"{(n_traj, *shape)}: every x0 needs the same n_traj and lattice")
        rows.append(lattice_pair_sums(x, periodic, _geometry=geometry))
    if geometry is None:
        raise ValueError("spins holds no x0")
    return summarise(np.stack(rows), geometry[1], n_traj, level=level, n_boot=n_boot, seed=seed,
                     confidence=confidence, variant=variant)
