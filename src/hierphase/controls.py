"""Non-hierarchical controls with exact forward-backward: a Gaussian random field, a flat
class mixture, a random code, and the RHM with its leaves permuted.

Both answer the same question as the RHM: run the forward process from ``x0``, draw an exact
posterior sample ``x̂0``, and ask how the changes between ``x0`` and ``x̂0`` are correlated in
space (:mod:`hierphase.correlations`). Neither has a hierarchy, so whatever they show is what the
tree is *not* needed for.

**Gaussian random field** (:class:`GaussianField`). A stationary zero-mean Gaussian field on a
periodic lattice of ``shape`` (a chain ``(n,)`` or a grid ``(h, w)``), diagonal in the discrete
Fourier basis with power spectrum ``S(k) ∝ |k|**-a`` (``a = exponent``; ``k`` the wave vector,
``2 pi m / n`` per axis with ``m`` the minimum-image mode index, so ``|k|`` is symmetric under
``k -> -k``). The ``k = 0`` mode has ``S = 0``: the power law diverges there for ``a > 0``, and
setting it to zero makes every sample have spatial mean exactly zero (the field is defined up to a
constant, as a power-law field on a torus is); the mean is then carried by no mode, so denoising
never changes it. ``S`` is normalised so that the per-site variance ``C(0) = mean_k S(k)`` is 1.
The covariance between sites at displacement ``delta`` is ``C(delta) = ifft(S)(delta)``
(:meth:`GaussianField.covariance`). A sample filters real white noise ``w``:
``z = ifft(sqrt(S) fft(w))``: the filter is real and even in ``k``, so ``z`` is real and the
Hermitian symmetry of ``fft(z)`` holds by construction (the ``rfft`` half-spectrum is all that is
computed).

Forward (Gaussian DDPM): ``z_t = sqrt(abar) z0 + sqrt(1 - abar) eta``, ``eta`` white,
``abar = alphas_bar[t]`` of a :class:`hierphase.noise.GaussianSchedule`. Prior and noise are both
diagonal in Fourier space, so the posterior ``p(z0 | z_t)`` is Gaussian and diagonal too, mode by
mode (``S = S(k)``)::

    mean_k = sqrt(abar) S / (abar S + 1 - abar) * fft(z_t)_k
    var_k  = S (1 - abar) / (abar S + 1 - abar)

(the scalar Gaussian conditional of ``Z0_k`` given ``Z_t,k = sqrt(abar) Z0_k + sqrt(1 - abar) H_k``).
An exact posterior sample is ``ifft(mean) + ifft(sqrt(var) fft(w'))`` with fresh white ``w'``.
Modes with ``abar S > 1 - abar`` (signal above noise) are essentially kept; the rest are
resampled from the prior. At ``abar = 1`` (``t = 0``) the posterior is the point mass at
``z_t = z0`` and ``z0`` is returned as is. The change of a site is continuous,
``|z_i - ẑ_i|`` (:func:`hierphase.correlations.continuous_changes`).

**Flat class mixture** (:class:`FlatMixture`). A class ``c`` uniform over ``n_classes``, then
``d`` tokens drawn independently from a class-specific distribution ``q_c`` over ``v`` symbols.
The distributions are ``q_c(x) ∝ exp(scale * g_cx)`` with ``g_cx`` independent standard normals
(:meth:`FlatMixture.from_seed`). Why this family: one continuous knob, ``scale``, sets how much a
token says about its class (``scale = 0``: nothing; large: each class concentrates on a few
symbols), so the class threshold can be placed at any noise level for any ``d``; every symbol is
possible under every class, as every leaf value is under every class of a deep RHM, so no single
token can rule a class out; the same seed at two scales gives the same logits, so the threshold
moves monotonically with ``scale``. (A "random subset of K symbols per class" family has an
integer knob too coarse to place the threshold: at ``v = 32``, ``d = 512`` even ``K = 31`` puts
it near 0.74 while ``K = 32`` makes every class the same.)

Exact posterior, given per-token log-evidence ``e_i(x) = log p(obs_i | x_i = x)`` (``(n, d, v)``,
:func:`hierphase.noise.forward_evidence`, any process): tokens are independent given the class, so

    log p(c | obs) = log(1/n_classes) + sum_i log sum_x q_c(x) exp(e_i(x)) - log Z,
    p(x_i = x | c, obs) ∝ q_c(x) exp(e_i(x)),

computed in float64 log space (``logsumexp``). :meth:`FlatMixture.posterior_sample` draws the class
from the first, then every token from the second given the drawn class (Gumbel-max). For the
epsilon-process ``sum_x q_c(x) exp(e_i(x)) = eps/v + (1 - eps) q_c(x0_i)`` exactly
(``sum_x q_c = 1``), which :func:`class_kept_epsilon` uses to place the class threshold cheaply,
and the evidence has no random draw, so the change correlations of infinitely many runs have a
closed form (:meth:`FlatMixture.change_pair_sums_epsilon`): tokens co-change only through the
drawn class, so ``C_ij`` (``i != j``) does not depend on where ``i`` and ``j`` sit, and ``C(r)``
is flat in ``r`` in expectation.

**Random code** (:class:`RandomCode`). ``n_codes`` classes, each ONE codeword of ``d`` symbols
over ``v`` drawn uniformly at random (two classes may share a codeword on tiny ``d``; they are
then indistinguishable, as in any code). A datum is a class and its codeword. Unlike the flat
mixture, a codeword's tokens are not independent given nothing: they are all fixed by the
class, so the class posterior is a sum over ``n_codes`` terms that can switch sharply, and it
does: under the epsilon-process the log-likelihood of codeword ``c`` is
``beta * agree(c, x0)`` plus a constant, ``beta = log((1 - eps + eps/v) / (eps/v))``,
``agree`` the number of positions where ``c`` and ``x0`` share a symbol. The true codeword
agrees everywhere, a random other one in ``Binomial(d, 1/v)`` positions, so in the annealed
estimate the wrong classes outweigh the true one when
``(n_codes - 1) (1 + (e^beta - 1)/v)^d > e^(beta d)``: the class flips at the noise where
``log(n_codes - 1) = d rate(eps)``, ``rate = beta - log(1 + (e^beta - 1)/v)``
(:func:`code_size` inverts it), and the flip sharpens as ``d`` grows at fixed rate. Exact
posterior (:meth:`RandomCode.class_log_posterior`): ``log p(c | obs) = sum_i e_i(w_ci) - log Z``
from any per-token log-evidence ``e`` by enumerating the codewords; a posterior draw is a class
and its codeword, so a run either keeps every token or changes the positions where the drawn
codeword differs from ``x0``, wherever they sit: C does not depend on the distance.

**Permuted RHM** (:func:`permuted_leaf_correlations`). The RHM's exact posterior samples, with
the leaves relabelled by one fixed random permutation before the change correlations are
binned: the posterior and every quantity that sums over all pairs (chi, the class curve) are
unchanged, but the distance between two positions no longer tells the level of their common
ancestor.

Seeds are explicit integers everywhere; independent streams come from
:func:`hierphase.seeding.derive_seed` with a stage name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .memory import gaussian_field_bytes
from .noise import FORWARD_PROCESSES, GaussianSchedule, epsilon_evidence, forward_evidence
from .seeding import derive_seed, numpy_generator, torch_generator
from .shapes import AxisSize
from .theory import code_rate, code_size

__all__ = [
    "GaussianField",
    "gaussian_field_bytes",
    "FlatMixture",
    "class_kept_epsilon",
    "class_half_point",
    "scale_for_half_point",
    "RandomCode",
    "code_rate",
    "code_size",
    "random_code_correlations",
    "permuted_leaf_correlations",
    "CONTROL_SUMMARY_COLUMNS",
    "control_summary",
]


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_abar(abar) -> float:
    abar = float(abar)
    if not 0.0 <= abar <= 1.0:  # false for NaN too
        raise ValueError(f"abar must lie in [0, 1], got {abar}")
    return abar


# ----------------------------------------------------------------------------- Gaussian field
@dataclass(frozen=True)
class GaussianField:
    """Stationary Gaussian field on a periodic lattice, ``S(k) ∝ |k|**-exponent``, ``S(0) = 0``,
    unit per-site variance (module docstring). ``shape``: ``n`` or ``(n,)`` for a chain,
    ``(h, w)`` for a grid."""

    shape: tuple[int, ...]
    exponent: float

    def __post_init__(self):
        shape = tuple(self.shape) if isinstance(self.shape, (tuple, list)) else (self.shape,)
        if len(shape) not in (1, 2):
            raise ValueError(f"GaussianField: shape must have 1 or 2 axes, got {shape!r}")
        shape = tuple(_check_int(n, "GaussianField: shape", 1) for n in shape)
        if math.prod(shape) < 2:
            raise ValueError(f"GaussianField: the lattice needs >= 2 sites (a mode besides k = 0), "
                             f"got shape {shape}")
        exponent = float(self.exponent)
        if not (math.isfinite(exponent) and exponent >= 0):
            raise ValueError(f"GaussianField: exponent must be a finite float >= 0, "
                             f"got {self.exponent!r}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "exponent", exponent)

    @property
    def axes(self) -> tuple[int, ...]:
        """The lattice axes of an array ``(..., *shape)``."""
        return tuple(range(-len(self.shape), 0))

    @property
    def wavenumber(self) -> np.ndarray:
        """``|k|`` on the FFT grid, float64 ``shape`` (numpy's FFT order, ``k = 0`` first)."""
        k2 = np.zeros(self.shape)
        for axis, n in enumerate(self.shape):
            view = [1] * len(self.shape)
            view[axis] = n
            k2 = k2 + (2 * np.pi * np.fft.fftfreq(n)).reshape(view) ** 2
        return np.sqrt(k2)

    @property
    def spectrum(self) -> np.ndarray:
        """``S(k)`` on the FFT grid, float64 ``shape``: ``S(0) = 0``, ``mean(S) = 1``."""
        k = self.wavenumber
        power = np.zeros(self.shape)
        power[k > 0] = k[k > 0] ** -self.exponent
        return power / power.mean()

    def covariance(self) -> np.ndarray:
        """``C(delta) = E z_x z_{x+delta}`` by displacement, float64 ``shape``, ``C(0) = 1``."""
        return np.fft.irfftn(self._half(self.spectrum), s=self.shape, axes=self.axes)

    def _half(self, full: np.ndarray) -> np.ndarray:
        """The rfftn half of an even function on the FFT grid."""
        return full[..., : self.shape[-1] // 2 + 1]

    def _filter(self, x: np.ndarray, gain: np.ndarray) -> np.ndarray:
        """``ifft(gain * fft(x))`` over the lattice axes for a real, even ``gain``."""
        spectrum = np.fft.rfftn(x, axes=self.axes) * self._half(gain)
        return np.fft.irfftn(spectrum, s=self.shape, axes=self.axes)

    def _white(self, size: tuple[int, ...], seed: int) -> np.ndarray:
        return numpy_generator(seed).standard_normal(size + self.shape)

    def _fields(self, z, name: str) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim < len(self.shape) or z.shape[z.ndim - len(self.shape):] != self.shape:
            raise ValueError(f"{name} must have shape (..., {', '.join(map(str, self.shape))}), "
                             f"got {tuple(z.shape)}")
        return z

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` independent fields, float64 ``(n, *shape)``."""
        n = _check_int(n, "n", 0)
        white = self._white((n,), derive_seed(int(seed), "gaussian_field.sample"))
        return self._filter(white, np.sqrt(self.spectrum))

    def noise(self, z0, abar: float, seed: int) -> np.ndarray:
        """Forward: ``sqrt(abar) z0 + sqrt(1 - abar) eta``, ``eta`` white, same shape as ``z0``."""
        z0, abar = self._fields(z0, "z0"), _check_abar(abar)
        eta = numpy_generator(derive_seed(int(seed), "gaussian_field.noise")).standard_normal(
            z0.shape)
        return math.sqrt(abar) * z0 + math.sqrt(1.0 - abar) * eta

    def posterior_gain(self, abar: float) -> tuple[np.ndarray, np.ndarray]:
        """Per mode: the posterior mean's factor on ``fft(z_t)`` and the posterior variance
        (``shape`` each; module docstring). At ``abar = 1`` the gain is 1 on every mode with
        ``S > 0`` and the variance 0."""
        abar, S = _check_abar(abar), self.spectrum
        denom = abar * S + (1.0 - abar)
        ok = denom > 0  # only k = 0 at abar = 1, where S = 0: the mode is empty
        safe = np.where(ok, denom, 1.0)
        gain = np.where(ok, math.sqrt(abar) * S / safe, 0.0)
        var = np.where(ok, S * (1.0 - abar) / safe, 0.0)
        return gain, var

    def posterior_mean(self, z_t, abar: float) -> np.ndarray:
        """``E[z0 | z_t]``, same shape as ``z_t``."""
        z_t = self._fields(z_t, "z_t")
        return self._filter(z_t, self.posterior_gain(abar)[0])

    def posterior_covariance(self, abar: float) -> np.ndarray:
        """``Cov[z0 | z_t]`` by displacement (stationary, independent of ``z_t``), ``shape``."""
        var = self.posterior_gain(abar)[1]
        return np.fft.irfftn(self._half(var), s=self.shape, axes=self.axes)

    def posterior_sample(self, z_t, abar: float, seed: int) -> np.ndarray:
        """One exact sample of ``z0 | z_t`` per field of ``z_t`` (``(..., *shape)``); at
        ``abar = 1``, ``z_t`` itself."""
        z_t, abar = self._fields(z_t, "z_t"), _check_abar(abar)
        if abar == 1.0:
            return z_t.copy()
        gain, var = self.posterior_gain(abar)
        white = numpy_generator(derive_seed(int(seed), "gaussian_field.posterior")) \
            .standard_normal(z_t.shape)
        spectrum = np.fft.rfftn(z_t, axes=self.axes) * self._half(gain) \
            + np.fft.rfftn(white, axes=self.axes) * self._half(np.sqrt(var))
        return np.fft.irfftn(spectrum, s=self.shape, axes=self.axes)

    def forward_backward(self, z0, schedule: GaussianSchedule, t: int, n_traj: int,
                         seed: int) -> np.ndarray:
        """``n_traj`` forward-backward runs from each ``z0`` (``(n, *shape)``) to step ``t`` of
        ``schedule``: fresh forward noise and a fresh posterior sample per run. Returns float64
        ``(n, n_traj, *shape)``; at ``t = 0``, ``z0`` repeated exactly."""
        z0 = self._fields(z0, "z0")
        if z0.ndim != len(self.shape) + 1:
            raise ValueError(f"z0 must have shape (n, {', '.join(map(str, self.shape))}), "
                             f"got {tuple(z0.shape)}")
        n_traj = _check_int(n_traj, "n_traj", 1)
        abar = schedule.abar(t)
        runs = np.broadcast_to(z0[:, None], (z0.shape[0], n_traj, *self.shape))
        z_t = self.noise(runs, abar, seed)  # noise and posterior draw distinct streams of seed
        return self.posterior_sample(z_t, abar, seed)


# ----------------------------------------------------------------------------- flat mixture
def _gumbel_argmax(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One draw per row of ``softmax(logits)`` over the last axis (``-inf``: never drawn)."""
    u = torch.rand(logits.shape, generator=gen, dtype=torch.float64)
    return (logits - torch.log(-torch.log(u))).argmax(dim=-1)


#: Elements of the (rows, d, n_classes, v) intermediate held at once by the class likelihood.
_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True, eq=False)
class FlatMixture:
    """A class uniform over ``n_classes``, then i.i.d. tokens from ``q_c`` (module docstring).

    ``log_probs``: float64 ``(n_classes, v)``, row ``c`` = ``log q_c`` (each row sums to 1 in
    probability; ``-inf`` allowed for impossible symbols)."""

    log_probs: torch.Tensor

    def __post_init__(self):
        lp = torch.as_tensor(self.log_probs, dtype=torch.float64)
        if lp.dim() != 2 or lp.shape[0] < 2 or lp.shape[1] < 2:
            raise ValueError(f"FlatMixture: log_probs must have shape (n_classes >= 2, v >= 2), "
                             f"got {tuple(lp.shape)}")
        if torch.isnan(lp).any() or (lp == math.inf).any():
            raise ValueError("FlatMixture: log_probs must be finite or -inf")
        total = torch.logsumexp(lp, dim=1)
        if not torch.allclose(total, torch.zeros_like(total), atol=1e-9):
            raise ValueError(f"FlatMixture: each row of exp(log_probs) must sum to 1, got sums "
                             f"{torch.exp(total).tolist()}")
        object.__setattr__(self, "log_probs", lp)

    @classmethod
    def from_seed(cls, v: int, n_classes: int, scale: float, seed: int) -> FlatMixture:
        """``q_c = softmax(scale * g_c)``, ``g`` standard normal ``(n_classes, v)`` drawn from
        ``seed`` (the same ``g`` for every ``scale``)."""
        v, n_classes = _check_int(v, "v", 2), _check_int(n_classes, "n_classes", 2)
        scale = float(scale)
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale must be a finite float >= 0, got {scale!r}")
        gen = torch_generator(derive_seed(int(seed), "flat_mixture.logits"))
        g = torch.randn((n_classes, v), generator=gen, dtype=torch.float64)
        return cls(torch.log_softmax(scale * g, dim=1))

    n_classes = AxisSize("log_probs", 0)
    v = AxisSize("log_probs", 1)

    def sample(self, n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` data: classes long ``(n,)`` and tokens long ``(n, d)``."""
        n, d = _check_int(n, "n", 0), _check_int(d, "d", 1)
        gen = torch_generator(derive_seed(int(seed), "flat_mixture.sample"))
        classes = torch.randint(self.n_classes, (n,), generator=gen)
        if n == 0:
            return classes, torch.zeros((0, d), dtype=torch.long)
        tokens = torch.multinomial(torch.exp(self.log_probs)[classes], d, replacement=True,
                                   generator=gen)
        return classes, tokens

    def _evidence(self, log_evidence) -> torch.Tensor:
        e = torch.as_tensor(log_evidence, dtype=torch.float64)
        if e.dim() != 3 or e.shape[2] != self.v:
            raise ValueError(f"log_evidence must have shape (n, d, v={self.v}), "
                             f"got {tuple(e.shape)}")
        if torch.isnan(e).any():
            raise ValueError("log_evidence holds NaN")
        return e

    def token_log_likelihood(self, log_evidence) -> torch.Tensor:
        """``log sum_x q_c(x) exp(e_i(x))`` per datum, token and class: ``(n, d, n_classes)``."""
        e = self._evidence(log_evidence)
        n, d, v = e.shape
        rows = max(1, _CHUNK_ELEMENTS // max(1, d * self.n_classes * v))
        return torch.cat([torch.logsumexp(e[i:i + rows, :, None, :] + self.log_probs, dim=-1)
                          for i in range(0, n, rows)]) if n else e.new_zeros((0, d, self.n_classes))

    def class_log_posterior(self, log_evidence) -> torch.Tensor:
        """``log p(c | observations)``, float64 ``(n, n_classes)`` (uniform class prior)."""
        joint = self.token_log_likelihood(log_evidence).sum(dim=1)
        total = torch.logsumexp(joint, dim=1, keepdim=True)
        if (total == -math.inf).any():
            rows = torch.nonzero(total[:, 0] == -math.inf)[:, 0].tolist()
            raise ValueError(f"log_evidence rows {rows[:10]} are impossible under every class")
        return joint - total

    def _sample_tokens(self, classes: torch.Tensor, e: torch.Tensor,
                       gen: torch.Generator) -> torch.Tensor:
        return _gumbel_argmax(self.log_probs[classes][:, None, :] + e, gen)

    def posterior_sample(self, log_evidence, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One exact posterior draw per datum: the class ``(n,)``, then the tokens ``(n, d)``
        given it (long tensors)."""
        e = self._evidence(log_evidence)
        return self._posterior_draw(self.class_log_posterior(e), e, seed)

    def _posterior_draw(self, class_log_post, e, seed):
        gen = torch_generator(derive_seed(int(seed), "flat_mixture.posterior"))
        classes = _gumbel_argmax(class_log_post, gen)
        return classes, self._sample_tokens(classes, e, gen)

    def forward_backward(self, tokens, process: str, level: float, n_traj: int, seed: int,
                         schedule: GaussianSchedule | None = None,
                         independent_masks: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``n_traj`` forward-backward runs from each datum ``tokens`` ``(n, d)``.

        ``process``/``level``/``schedule``/``independent_masks`` as in
        :func:`hierphase.noise.forward_evidence` (eps for ``"epsilon"``, t/T otherwise); masks
        are independent per token unless told otherwise, as in the RHM's correlation sweeps (a
        fixed count of masked tokens anticorrelates their changes). Run ``j`` noises with
        ``derive_seed(seed, "noise", j)``
        and samples with ``derive_seed(seed, "posterior", j)``; the epsilon-process evidence has
        no random draw, so it and the class posterior are computed once and only the posterior
        draw is repeated. Returns the drawn classes ``(n, n_traj)`` and tokens ``(n, n_traj, d)``.
        """
        if process not in FORWARD_PROCESSES:
            raise ValueError(f"process must be one of {FORWARD_PROCESSES}, got {process!r}")
        tokens = torch.as_tensor(tokens).long()
        n_traj = _check_int(n_traj, "n_traj", 1)
        shared = None
        classes, draws = [], []
        for j in range(n_traj):
            if shared is None:
                e = self._evidence(forward_evidence(
                    process, tokens, self.v, level, derive_seed(int(seed), "noise", j), schedule,
                    independent_masks=independent_masks))
                post = self.class_log_posterior(e)
                if process == "epsilon":
                    shared = e, post
            else:
                e, post = shared
            c, x = self._posterior_draw(post, e, derive_seed(int(seed), "posterior", j))
            classes.append(c)
            draws.append(x)
        return torch.stack(classes, dim=1), torch.stack(draws, dim=1)

    def change_pair_sums_epsilon(self, tokens, eps: float) -> np.ndarray:
        """Exact pair sums of the change spins under the epsilon-process, as infinitely many
        forward-backward runs would give them: float64 ``(n, d)``, per datum, in the bins of
        ``correlations.lattice_bins(d, periodic=False)`` (distance ``0..d-1`` on the chain of
        tokens), the expectation of ``correlations.lattice_pair_sums`` up to its factor
        ``1 - 1/n_traj``.

        The evidence has no random draw, so the class posterior ``pi_c`` is fixed; given the
        drawn class ``c`` token ``i`` changes independently with probability
        ``p_ci = 1 - hi q_c(x_i) / (lo + (hi - lo) q_c(x_i))`` (``hi = 1 - eps + eps/v``,
        ``lo = eps/v``). Hence ``C_ii = 4 pbar_i (1 - pbar_i)`` with ``pbar_i = sum_c pi_c p_ci``
        and, for ``i != j``, ``C_ij = 4 sum_c pi_c (p_ci - pbar_i)(p_cj - pbar_j)``: tokens
        co-change only through the class."""
        tokens = torch.as_tensor(tokens).long()
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape (n, d), got {tuple(tokens.shape)}")
        eps = float(eps)
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must lie in [0, 1], got {eps}")
        n, d = tokens.shape
        hi, lo = 1.0 - eps + eps / self.v, eps / self.v
        pi = torch.exp(self.class_log_posterior(epsilon_evidence(tokens, eps, self.v))).numpy()
        q = torch.exp(self.log_probs).numpy()[:, tokens.numpy()]  # (n_classes, n, d)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 1.0 - np.where(q > 0, hi * q / (lo + (hi - lo) * q), 0.0)
        p = np.moveaxis(p, 0, 1)  # (n, n_classes, d)
        pbar = np.einsum("nc,ncd->nd", pi, p)
        a = p - pbar[:, None, :]
        size = 2 * d - 1  # zero-padded: the open chain's autocorrelation
        power = np.abs(np.fft.rfft(a, n=size, axis=-1)) ** 2
        auto = np.fft.irfft(np.einsum("nc,nck->nk", pi, power), n=size, axis=-1)[:, :d]
        pairs = 8.0 * auto  # both orders of every pair (i, i + r), r >= 1
        pairs[:, 0] = 4.0 * np.sum(pbar * (1.0 - pbar), axis=1)
        return pairs


# ----------------------------------------------------------------------------- class threshold
def _symbol_counts(tokens: torch.Tensor, v: int) -> torch.Tensor:
    """How often each symbol occurs in each datum, float64 ``(n, v)``."""
    counts = torch.zeros((tokens.shape[0], v), dtype=torch.float64)
    return counts.scatter_add_(1, tokens, torch.ones(tokens.shape, dtype=torch.float64))


def _kept_from_counts(mixture: FlatMixture, classes: torch.Tensor, counts: torch.Tensor,
                      eps: float) -> torch.Tensor:
    per_symbol = torch.log(eps / mixture.v + (1.0 - eps) * torch.exp(mixture.log_probs))
    # a symbol absent from a datum contributes 0 * per_symbol, even where per_symbol is -inf
    present = counts[:, None, :] > 0
    joint = torch.where(present, counts[:, None, :] * per_symbol, 0.0).sum(-1)  # (n, n_classes)
    post = joint - torch.logsumexp(joint, dim=1, keepdim=True)
    return torch.exp(post.gather(1, classes[:, None])[:, 0])


def class_kept_epsilon(mixture: FlatMixture, classes, tokens, eps: float) -> torch.Tensor:
    """Posterior probability of the true class under the epsilon-process at ``eps``, per datum
    ``(n,)``: the probability that forward-backward keeps the class (its expectation over the
    posterior draw), from ``sum_x q_c(x) exp(e_i(x)) = eps/v + (1 - eps) q_c(x_i)``, so that a
    datum enters only through how often it holds each symbol."""
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps}")
    tokens, classes = torch.as_tensor(tokens).long(), torch.as_tensor(classes).long()
    return _kept_from_counts(mixture, classes, _symbol_counts(tokens, mixture.v), eps)


def _bisect(f, lo: float, hi: float, tol: float) -> float:
    """The root of a function decreasing through 0 on [lo, hi] (f(lo) > 0 >= f(hi))."""
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def class_half_point(mixture: FlatMixture, d: int, n: int, seed: int,
                     tol: float = 1e-4) -> float:
    """The eps at which the mean class kept (:func:`class_kept_epsilon`, over ``n`` data of
    ``d`` tokens drawn with ``seed``, the same data at every eps) crosses 1/2; NaN when it is
    below 1/2 already at eps = 0 (the tokens say too little about the class)."""
    classes, tokens = mixture.sample(n, d, seed)
    counts = _symbol_counts(tokens, mixture.v)

    def excess(eps):
        return float(_kept_from_counts(mixture, classes, counts, eps).mean()) - 0.5

    if excess(0.0) <= 0:
        return math.nan
    return _bisect(excess, 0.0, 1.0, tol)


def scale_for_half_point(v: int, n_classes: int, d: int, target: float, seed: int, n: int,
                         tol: float = 1e-4, max_scale: float = 64.0) -> float:
    """The ``scale`` of :meth:`FlatMixture.from_seed` ``(v, n_classes, scale, seed)`` whose class
    half-point (:func:`class_half_point` with ``n`` data drawn from ``seed``) is ``target``."""
    target = float(target)
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must lie in (0, 1), got {target}")

    def below(scale):  # > 0 while the half-point is below target (too little class information)
        eps = class_half_point(FlatMixture.from_seed(v, n_classes, scale, seed), d, n, seed,
                               tol=tol / 10)
        return 1.0 if math.isnan(eps) else target - eps

    if below(max_scale) > 0:
        raise ValueError(f"no scale up to {max_scale} puts the class half-point at {target}")
    # below() decreases in scale: bisect on its negative crossing
    return _bisect(below, 0.0, max_scale, tol)


# ----------------------------------------------------------------------------- random code
@dataclass(frozen=True)
class RandomCode:
    """``n_codes`` classes, one codeword each: ``codewords`` long ``(n_codes, d)`` in ``[0, v)``
    (module docstring)."""

    codewords: torch.Tensor
    v: int

    def __post_init__(self):
        w = torch.as_tensor(self.codewords)
        if w.dim() != 2 or w.shape[0] < 2 or w.shape[1] < 1:
            raise ValueError(f"RandomCode: codewords must have shape (n_codes >= 2, d >= 1), "
                             f"got {tuple(w.shape)}")
        v = _check_int(self.v, "v", 2)
        if w.dtype.is_floating_point or w.min() < 0 or w.max() >= v:
            raise ValueError(f"RandomCode: codewords must be integers in [0, v={v})")
        object.__setattr__(self, "codewords", w.long().contiguous())

    @classmethod
    def from_seed(cls, v: int, n_codes: int, d: int, seed: int) -> RandomCode:
        """Codewords uniform over ``v**d``, independently, from ``seed``."""
        v, n_codes, d = _check_int(v, "v", 2), _check_int(n_codes, "n_codes", 2), _check_int(d, "d", 1)
        gen = torch_generator(derive_seed(int(seed), "random_code.codewords"))
        return cls(torch.randint(v, (n_codes, d), generator=gen), v)

    n_codes = AxisSize("codewords", 0)
    d = AxisSize("codewords", 1)

    def sample(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` data: classes long ``(n,)`` uniform, and their codewords ``(n, d)``."""
        n = _check_int(n, "n", 0)
        gen = torch_generator(derive_seed(int(seed), "random_code.sample"))
        classes = torch.randint(self.n_codes, (n,), generator=gen)
        return classes, self.codewords[classes]

    def class_log_posterior(self, log_evidence) -> torch.Tensor:
        """``log p(c | observations)``, float64 ``(n, n_codes)``, uniform prior over classes:
        ``sum_i e_i(w_ci)`` normalised, codewords enumerated in chunks."""
        e = torch.as_tensor(log_evidence, dtype=torch.float64)
        if e.dim() != 3 or e.shape[1] != self.d or e.shape[2] != self.v:
            raise ValueError(f"log_evidence must have shape (n, d={self.d}, v={self.v}), "
                             f"got {tuple(e.shape)}")
        if torch.isnan(e).any():
            raise ValueError("log_evidence holds NaN")
        n = e.shape[0]
        positions = torch.arange(self.d)
        rows = max(1, _CHUNK_ELEMENTS // max(1, n * self.d))
        joint = torch.cat([e[:, positions, self.codewords[i:i + rows]].sum(-1)
                           for i in range(0, self.n_codes, rows)], dim=1)
        total = torch.logsumexp(joint, dim=1, keepdim=True)
        if (total == -math.inf).any():
            raise ValueError("some log_evidence rows are impossible under every codeword")
        return joint - total

    def forward_backward(self, codewords, process: str, level: float, n_traj: int, seed: int,
                         schedule: GaussianSchedule | None = None) -> torch.Tensor:
        """``n_traj`` forward-backward runs from each datum ``codewords`` ``(n, d)``: the drawn
        classes ``(n, n_traj)`` (the drawn tokens are their codewords). Noise and draws as in
        :meth:`FlatMixture.forward_backward` (the epsilon-process's posterior computed once);
        masks independent per token."""
        if process not in FORWARD_PROCESSES:
            raise ValueError(f"process must be one of {FORWARD_PROCESSES}, got {process!r}")
        x0 = torch.as_tensor(codewords).long()
        n_traj = _check_int(n_traj, "n_traj", 1)
        post = None
        draws = []
        for j in range(n_traj):
            if post is None or process != "epsilon":
                post = self.class_log_posterior(forward_evidence(
                    process, x0, self.v, level, derive_seed(int(seed), "noise", j), schedule,
                    independent_masks=True))
            gen = torch_generator(derive_seed(int(seed), "random_code.posterior", j))
            draws.append(_gumbel_argmax(post, gen))
        return torch.stack(draws, dim=1)


def _tables_from_spins(spins: dict, s: int, n_traj: int, n_boot: int, seed: int,
                       class_kept: float, **keys):
    """Tree-binned correlation and susceptibility tables (one row set per level) from per-x0
    change spins ``spins[level]`` (list of ``(n_traj, s**level)`` arrays)."""
    import pandas as pd

    from . import correlations
    from .tables import CORRELATIONS_TABLE_COLUMNS, SUSCEPTIBILITY_TABLE_COLUMNS

    corr, chi = [], []
    for level, rows in spins.items():
        sums = np.stack([correlations.tree_pair_sums(x, s) for x in rows])
        out = correlations.summarise(sums, correlations.tree_bins(s, level), n_traj, level=level,
                                     n_boot=n_boot, seed=seed)
        corr.append(out.correlations)
        chi.append(out.susceptibility)
    corr, chi = pd.concat(corr, ignore_index=True), pd.concat(chi, ignore_index=True)
    chi["class_kept"] = class_kept
    for frame in (corr, chi):
        for name, value in keys.items():
            frame[name] = (pd.array([value] * len(frame), dtype="Int64")
                           if name in ("L", "rule_seed") else value)
    return corr[CORRELATIONS_TABLE_COLUMNS], chi[SUSCEPTIBILITY_TABLE_COLUMNS]


def _level_of(d: int, s: int) -> int:
    L = round(math.log(d) / math.log(s))
    if s**L != d:
        raise ValueError(f"d = {d} tokens must be a power of s = {s} to bin them on a tree")
    return L


def random_code_correlations(code: RandomCode, eps_values, *, n_x0: int, n_traj: int, seed: int,
                             n_boot: int = 500, s: int = 2, experiment: str = "random_code"):
    """Change correlations of a random code under the epsilon-process, exact posterior
    (:meth:`RandomCode.forward_backward`): ``n_traj`` runs of each of ``n_x0`` data per eps.
    The ``d = s**L`` tokens are binned by the tree distance of their positions on a depth-``L``
    ``s``-ary tree (``level = L``; level 0 is the class), the binning of the RHM's leaves, so
    the same fits apply. Returns the correlation and susceptibility tables
    (:data:`~hierphase.tables.CORRELATIONS_TABLE_COLUMNS`, ...), ``family = "random_code"``,
    ``model = "exact"``. Data from ``seed``; runs of datum ``i`` at ``eps`` from
    ``derive_seed(seed, f"{eps:.6f}", i)``."""
    import pandas as pd

    L = _level_of(code.d, s)
    n_x0, n_traj = _check_int(n_x0, "n_x0", 1), _check_int(n_traj, "n_traj", 2)
    classes, x0 = code.sample(n_x0, derive_seed(int(seed), "data"))
    corr_frames, chi_frames = [], []
    for eps in np.asarray(eps_values, dtype=float).ravel():
        point = derive_seed(int(seed), f"{float(eps):.6f}")
        spins = {0: [], L: []}
        kept = []
        for i in range(n_x0):
            drawn = code.forward_backward(x0[i:i + 1], "epsilon", float(eps), n_traj,
                                          derive_seed(point, i))[0]
            changed = code.codewords[drawn] != x0[i]  # (n_traj, d)
            spins[L].append(np.where(changed.numpy(), 1.0, -1.0))
            spins[0].append(np.where((drawn != classes[i]).numpy(), 1.0, -1.0)[:, None])
            kept.append(float((drawn == classes[i]).double().mean()))
        corr, chi = _tables_from_spins(
            spins, s, n_traj, n_boot, derive_seed(point, "bootstrap"), float(np.mean(kept)),
            family="random_code", experiment=experiment, model="exact", process="epsilon",
            L=L, rule_seed=None, noise=float(eps), t_over_T=np.nan)
        corr_frames.append(corr)
        chi_frames.append(chi)
    return pd.concat(corr_frames, ignore_index=True), pd.concat(chi_frames, ignore_index=True)


def permuted_leaf_correlations(rules, trees, eps_values, *, n_traj: int, seed: int,
                               permutation_seed: int, n_boot: int = 500,
                               experiment: str = "permuted", rule_seed: int | None = None):
    """Change correlations of the RHM's leaves under the epsilon-process, exact BP posterior
    samples (:func:`hierphase.bp.sample_posterior`, ``n_traj`` per datum of ``trees``), binned
    twice from the same samples: by the leaves' own tree distance (``model = "bp"``) and after
    relabelling the positions by one fixed random permutation from ``permutation_seed``
    (``model = "bp_permuted"``: the distance between positions no longer tells the level of
    the common ancestor). ``family = "rhm_permuted"``; levels 0 (the class) and ``L``."""
    import pandas as pd

    from . import bp, noise

    n_traj = _check_int(n_traj, "n_traj", 2)
    L, s = rules.L, rules.s
    perm = torch.randperm(rules.d, generator=torch_generator(
        derive_seed(int(permutation_seed), "rhm.leaf_permutation"))).numpy()
    frames = {"bp": ([], []), "bp_permuted": ([], [])}
    n_x0 = trees[0].shape[0]
    for eps in np.asarray(eps_values, dtype=float).ravel():
        point = derive_seed(int(seed), f"{float(eps):.6f}")
        spins = {"bp": {0: [], L: []}, "bp_permuted": {0: [], L: []}}
        kept = []
        for i in range(n_x0):
            ev = noise.epsilon_evidence(trees[-1][i:i + 1], float(eps), rules.v)
            sample = bp.sample_posterior(rules, ev, seed=derive_seed(point, i), n_samples=n_traj)
            leaf = np.where((sample[-1][0] != trees[-1][i]).numpy(), 1.0, -1.0)
            root = np.where((sample[0][0] != trees[0][i]).numpy(), 1.0, -1.0)
            kept.append(float((root < 0).mean()))
            for model, x in (("bp", leaf), ("bp_permuted", leaf[:, perm])):
                spins[model][L].append(x)
                spins[model][0].append(root)
        for model in frames:
            corr, chi = _tables_from_spins(
                spins[model], s, n_traj, n_boot, derive_seed(point, "bootstrap"),
                float(np.mean(kept)), family="rhm_permuted", experiment=experiment, model=model,
                process="epsilon", L=L, rule_seed=rule_seed, noise=float(eps), t_over_T=np.nan)
            frames[model][0].append(corr)
            frames[model][1].append(chi)
    return (pd.concat([f for m in frames for f in frames[m][0]], ignore_index=True),
            pd.concat([f for m in frames for f in frames[m][1]], ignore_index=True))


#: One row per (family, experiment, model, L) of :func:`control_summary`.
CONTROL_SUMMARY_COLUMNS = [
    "family", "experiment", "model", "process", "L", "tree", "d", "class_half_noise", "class_flip_width",
    "peak_noise", "chi_max", "chi_max_lo", "chi_max_hi", "chi_max_over_d", "chi_low_noise",
    "chi_high_noise", "chi_peaks", "a_level", "a_level_err", "a_level_chi2_dof",
    "C_top_over_C_1",
]


def control_summary(correlations, susceptibility):
    """What separates a hierarchy from a sharp transition, per (family, experiment, model,
    process, L), from leaf tables (the RHM's, :func:`random_code_correlations`,
    :func:`permuted_leaf_correlations`, the flat mixture's chain; pooled over rule draws; groups
    without a depth, the Gaussian field's, have no class and are left out),
    :data:`CONTROL_SUMMARY_COLUMNS`:

    - the bins: ``tree`` when the distances are tree levels (``r = s**k - 1`` up to
      ``s**L - 1``), then ``d = s**L``; otherwise positions on a chain, ``d`` = the largest
      distance + 1;
    - the class flip: ``class_half_noise`` where ``class_kept`` falls through 1/2 and
      ``class_flip_width``, the noise between its 0.9 and 0.1 crossings
      (:func:`hierphase.scaling.level_crossing`; NaN where the grid does not reach them);
    - the peak: ``chi_max`` at ``peak_noise`` with its interval, ``chi_max / d``, chi at the
      lowest and highest noise of the grid where it is defined; ``chi_peaks`` when
      ``chi_max_lo`` exceeds both
      (the largest chi is significantly above both ends of the grid);
    - the levels: at the peak, on tree bins, ``a_level`` of
      :func:`hierphase.scaling.fit_per_level` over ``k = 1..L-1`` (weighted, with its reduced
      chi-square) and ``C(L-1)/C(1)``: a power law in the tree level falls by
      ``s**(-a (L-2))``, a class-only coupling stays near 1; on a chain, no fit, and
      ``C_top_over_C_1`` is the mean C over the far half of the distances (``r >= d/2``) over
      ``C(1)``.
    """
    import pandas as pd

    from . import scaling

    keys = ["family", "experiment", "model", "process", "L"]
    sus = scaling.leaves(susceptibility)
    sus = sus[sus["L"].notna()]
    cor = scaling.leaves(correlations)
    sus = scaling.pool_rule_seeds(sus, keys + ["level", "noise"], ["chi"])
    cor = scaling.pool_rule_seeds(cor, keys + ["level", "noise", "distance"], ["C"])
    rows = []
    for key, g in sus.groupby(keys, sort=True):
        g = g.sort_values("noise")
        L = int(key[4])
        at = cor[(cor["family"] == key[0]) & (cor["experiment"] == key[1])
                 & (cor["model"] == key[2]) & (cor["process"] == key[3]) & (cor["L"] == L)]
        one = at[at["distance"] == 1]
        s = int(one["r"].iloc[0]) + 1 if not one.empty else 2
        tree = bool(L >= 1 and s >= 2 and np.isclose(float(at["r"].max()), s**L - 1))
        d = s**L if tree else int(at["distance"].max()) + 1
        noise, kept = g["noise"].to_numpy(float), g["class_kept"].to_numpy(float)
        hi90 = scaling.level_crossing(noise, kept, 0.9)[0]
        lo10 = scaling.level_crossing(noise, kept, 0.1)[0]
        i = int(np.nanargmax(g["chi"].to_numpy(float)))
        peak = g.iloc[i]
        chi = g["chi"].to_numpy(float)
        chi = chi[np.isfinite(chi)]  # no change at all at the lowest noise: no ratio
        row = dict(zip(keys, key), tree=tree, d=d,
                   class_half_noise=scaling.class_half_point(noise, kept),
                   class_flip_width=lo10 - hi90, peak_noise=float(peak["noise"]),
                   chi_max=float(peak["chi"]), chi_max_lo=float(peak["chi_lo"]),
                   chi_max_hi=float(peak["chi_hi"]), chi_max_over_d=float(peak["chi"]) / d,
                   chi_low_noise=float(chi[0]), chi_high_noise=float(chi[-1]),
                   chi_peaks=bool(peak["chi_lo"] > max(chi[0], chi[-1])))
        c = at[np.isclose(at["noise"].to_numpy(float), row["peak_noise"])].sort_values("distance")
        k = c["distance"].to_numpy(float)
        C, lo, hi = (c[x].to_numpy(float) for x in ("C", "C_lo", "C_hi"))
        fit = (scaling.fit_per_level(k, C, lo, hi, s=s, k_min=1, k_max=L - 1)
               if tree and L >= 3 else None)
        top = (k == L - 1) if tree else (k >= d / 2)  # a chain: the far half, pairs pooled
        row.update(a_level=np.nan if fit is None else fit.exponent,
                   a_level_err=np.nan if fit is None else fit.err,
                   a_level_chi2_dof=np.nan if fit is None else fit.chi2_red,
                   C_top_over_C_1=(float(C[top].mean() / C[k == 1][0])
                                   if (k == 1).any() and top.any() and (k[top] > 1).all()
                                   else np.nan))
        rows.append(row)
    out = pd.DataFrame(rows, columns=CONTROL_SUMMARY_COLUMNS)
    out["L"] = out["L"].astype("Int64")
    return out
