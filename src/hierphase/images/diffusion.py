"""Respaced linear-beta DDPM and the forward-backward experiment on images.

The paper's ADM model was trained with a linear schedule of T = 1000 steps and is sampled with a
respaced chain of K = 250 steps. Respacing keeps K of the original timesteps, chosen evenly by
OpenAI's ``space_timesteps`` rule (:func:`space_timesteps`), and gives the short chain the betas
``beta'_i = 1 - abar[t_i] / abar[t_{i-1}]`` so that its cumulative products are exactly the
original ``abar`` at the kept timesteps. The network is always called with the *original*
timestep ``t_i``.

The reverse update is diffusers' :class:`~diffusers.DDPMScheduler` configured with the respaced
betas (``variance_type="learned_range"`` for models that predict their variance, as ADM does;
``"fixed_small"`` or ``"fixed_large"`` otherwise). Predictions of x0 are clipped to [-1, 1]
(OpenAI's ``clip_denoised=True``, diffusers' ``clip_sample=True``).

Conventions (every output records them):

- ``k`` in ``0..K`` is the respaced step: ``k = 0`` is the clean image, ``k = K`` pure noise.
  Noising to ``k >= 1`` puts the image at index ``k - 1`` of the K-step chain.
- ``t_model = timesteps[k - 1]`` is the original timestep the network sees (OpenAI's 0-based index,
  ``0..T-1``).
- ``t = t_model + 1`` is the number of original noising steps applied, so that
  ``alphas_bar[t]`` follows the core ``hierphase.noise.GaussianSchedule`` convention
  (``alphas_bar[0] = 1``, t = 0 clean). ``t = 0`` for ``k = 0``.
- ``t_over_T = k / K``: the paper's axis (k = 25, 50, ..., 250 of 250 is t/T = 0.1, ..., 1.0).
  It differs from ``t / T`` by less than one respaced stride (e.g. k = 25 is t = 97).

Randomness: each image has its own CPU ``torch.Generator`` seeded from ``seeds[i]``; it draws the
forward noise first, then the noise of each reverse step, one image at a time. An image's result
therefore depends only on its seed, not on the batch it shares or the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..seeding import torch_generator

__all__ = [
    "space_timesteps",
    "linear_betas",
    "RespacedSchedule",
    "respaced_schedule",
    "make_scheduler",
    "noise_to_step",
    "reverse_step",
    "ForwardBackward",
    "forward_backward",
]


def space_timesteps(num_timesteps: int, section_counts: int | str | Sequence[int]) -> list[int]:
    """The original timesteps kept by OpenAI's even respacing, sorted ascending.

    ``section_counts`` is an int (``250``), a comma string (``"10,15,20"``) or a list: the chain
    ``0..num_timesteps-1`` is cut into that many equal sections (the first ones one step longer when
    it does not divide) and ``count`` steps are taken in each, evenly, at
    ``round(j * (size - 1) / (count - 1))`` with the stride accumulated as a float and Python's
    ``round``, exactly as OpenAI's ``improved_diffusion.respace.space_timesteps``.
    (OpenAI's ``"ddimN"`` strided form is not supported: the paper uses even respacing.)
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            raise ValueError("space_timesteps: 'ddimN' respacing is not supported; give a step count")
        counts = [int(c) for c in section_counts.split(",")]
    elif isinstance(section_counts, (int, np.integer)):
        counts = [int(section_counts)]
    else:
        counts = [int(c) for c in section_counts]
    if num_timesteps < 1 or any(c < 1 for c in counts):
        raise ValueError(f"space_timesteps: need num_timesteps >= 1 and counts >= 1, got "
                         f"{num_timesteps}, {counts}")
    base, extra = divmod(num_timesteps, len(counts))
    kept: list[int] = []
    start = 0
    for i, count in enumerate(counts):
        size = base + (1 if i < extra else 0)
        if count > size:
            raise ValueError(f"space_timesteps: cannot take {count} steps from a section of {size}")
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return sorted(set(kept))


def linear_betas(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """Ho et al.'s linear betas in float64, scaled to T steps as OpenAI does (1000/T factor)."""
    scale = 1000.0 / T
    return np.linspace(scale * beta_start, scale * beta_end, T, dtype=np.float64)


@dataclass(frozen=True)
class RespacedSchedule:
    """A linear DDPM of ``T`` steps respaced to ``K``.

    ``timesteps[i]`` (ascending, 0-based original indices) is the original timestep of respaced
    index ``i``; ``betas[i]`` the respaced beta; ``alphas_bar[i] = prod_{j<=i} (1 - betas[j])``,
    equal to the original ``abar`` at ``timesteps[i]``. All arrays are float64 numpy, read-only.
    """

    T: int
    K: int
    timesteps: tuple[int, ...]
    betas: np.ndarray
    alphas_bar: np.ndarray

    def t_model(self, k: int) -> int:
        """Original 0-based timestep the network sees at respaced step ``k >= 1``."""
        self._check(k, allow_zero=False)
        return self.timesteps[k - 1]

    def t(self, k: int) -> int:
        """Original noising steps applied at respaced step ``k`` (0 for k = 0)."""
        self._check(k)
        return 0 if k == 0 else self.timesteps[k - 1] + 1

    def t_over_T(self, k: int) -> float:
        """The paper's axis ``k / K``."""
        self._check(k)
        return k / self.K

    def _check(self, k: int, allow_zero: bool = True) -> None:
        if not (0 if allow_zero else 1) <= int(k) <= self.K:
            raise ValueError(f"respaced step k={k} outside {0 if allow_zero else 1}..{self.K}")


def respaced_schedule(num_steps: int | str = 250, T: int = 1000, beta_start: float = 1e-4,
                      beta_end: float = 0.02) -> RespacedSchedule:
    """The linear schedule of ``T`` steps respaced to ``num_steps`` (OpenAI's even respacing)."""
    betas = linear_betas(T, beta_start, beta_end)
    abar = np.cumprod(1.0 - betas)
    kept = space_timesteps(T, num_steps)
    new_betas, last = [], 1.0
    for t in kept:
        new_betas.append(1.0 - abar[t] / last)
        last = abar[t]
    new_betas = np.asarray(new_betas, dtype=np.float64)
    new_abar = np.cumprod(1.0 - new_betas)
    for arr in (new_betas, new_abar):
        arr.setflags(write=False)
    return RespacedSchedule(T=T, K=len(kept), timesteps=tuple(int(t) for t in kept),
                            betas=new_betas, alphas_bar=new_abar)


def make_scheduler(schedule: RespacedSchedule, variance_type: str = "learned_range",
                   clip_sample: bool = True):
    """A diffusers ``DDPMScheduler`` running the respaced chain (indices ``0..K-1``).

    ``set_timesteps`` is deliberately not called: the scheduler's own K-step chain *is* the
    respaced chain, so ``step(..., i, ...)`` goes from index ``i`` to ``i - 1``.
    """
    from diffusers import DDPMScheduler

    allowed = ("learned_range", "fixed_small", "fixed_large")
    if variance_type not in allowed:
        raise ValueError(f"variance_type must be one of {allowed}, got {variance_type!r}")
    return DDPMScheduler(num_train_timesteps=schedule.K, trained_betas=np.array(schedule.betas),
                         variance_type=variance_type, clip_sample=clip_sample,
                         clip_sample_range=1.0, prediction_type="epsilon", thresholding=False)


def _draw(generators: Sequence[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    """One standard normal draw per image, each from its own CPU generator."""
    return torch.cat([torch.randn((1, *shape), generator=g) for g in generators])


def noise_to_step(scheduler, x0: torch.Tensor, k: int,
                  generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Closed-form noising of ``x0`` to respaced step ``k >= 1`` (chain index ``k - 1``):
    ``sqrt(abar) x0 + sqrt(1 - abar) z`` with ``z`` drawn from each image's generator."""
    z = _draw(generators, tuple(x0.shape[1:])).to(x0.device)
    idx = torch.full((x0.shape[0],), k - 1, dtype=torch.long)
    return scheduler.add_noise(x0, z, idx)


def reverse_step(model, scheduler, schedule: RespacedSchedule, x: torch.Tensor, i: int,
                 generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One ancestral step from chain index ``i`` to ``i - 1`` (``i = 0`` returns the clipped x0
    prediction, no noise). The network sees the original timestep ``schedule.timesteps[i]``."""
    t_model = torch.full((x.shape[0],), schedule.timesteps[i], dtype=torch.long, device=x.device)
    eps, var_values = model(x, t_model)
    out = eps.float() if var_values is None else torch.cat([eps.float(), var_values.float()], 1)
    return scheduler.step(out, i, x, generator=list(generators)).prev_sample


@dataclass(frozen=True)
class ForwardBackward:
    """Result of :func:`forward_backward`: ``x0_hat`` (N, C, H, W) float32 in [-1, 1] on CPU and
    the step it came from (see the module docstring for ``k``, ``t``, ``t_model``, ``t_over_T``)."""

    x0_hat: torch.Tensor
    k: int
    K: int
    T: int
    t: int
    t_model: int | None
    t_over_T: float

    def record(self) -> dict[str, float | int | None]:
        """The step as a flat dict, for table rows and sidecars."""
        return {"k": self.k, "K": self.K, "T": self.T, "t": self.t, "t_model": self.t_model,
                "t_over_T": self.t_over_T}


def forward_backward(model, x0: torch.Tensor, k: int, seeds: Sequence[int],
                     batch_size: int = 16, progress: bool = True, *,
                     schedule: RespacedSchedule | None = None, num_steps: int | str = 250,
                     fixed_variance: str = "fixed_small",
                     clip_denoised: bool = True) -> ForwardBackward:
    """Noise every image of ``x0`` to respaced step ``k`` and sample back to step 0.

    ``model`` follows :class:`hierphase.images.models.DiffusionModel` (``model(x_t, t_model) ->
    (eps, var_values or None)``, attribute ``learned_variance``). ``x0`` is float in [-1, 1],
    shape (N, C, H, W); ``seeds`` gives one seed per image. Learned-variance models use
    ``learned_range``; the others use ``fixed_variance`` (``"fixed_small"``: the posterior
    variance, Ho et al.'s and diffusers' default; ``"fixed_large"``: beta, OpenAI's default).
    ``k = 0`` returns ``x0`` itself (a copy), calling no network (``model`` may be None).
    """
    schedule = schedule or respaced_schedule(num_steps)
    k = int(k)
    schedule._check(k)
    if len(seeds) != x0.shape[0]:
        raise ValueError(f"forward_backward: {x0.shape[0]} images but {len(seeds)} seeds")
    channels = getattr(model, "channels", x0.shape[1])
    if x0.ndim != 4 or x0.shape[1] != channels:
        raise ValueError(f"forward_backward: x0 must be (N, {channels}, H, W) for this model, "
                         f"got {tuple(x0.shape)}")
    if batch_size < 1:
        raise ValueError("forward_backward: batch_size must be >= 1")
    common = dict(k=k, K=schedule.K, T=schedule.T, t=schedule.t(k),
                  t_over_T=schedule.t_over_T(k))
    x0 = x0.detach().float().cpu()
    if k == 0:
        return ForwardBackward(x0_hat=x0.clone(), t_model=None, **common)
    variance_type = "learned_range" if getattr(model, "learned_variance", False) else fixed_variance
    scheduler = make_scheduler(schedule, variance_type, clip_sample=clip_denoised)
    device = _model_device(model)
    outputs = []
    n = x0.shape[0]
    starts = range(0, n, batch_size)
    bar = tqdm(total=len(starts) * k, desc=f"forward-backward k={k}/{schedule.K}",
               disable=not progress, unit="step")
    with torch.inference_mode():
        for start in starts:
            gens = [torch_generator(int(s)) for s in seeds[start:start + batch_size]]
            x = noise_to_step(scheduler, x0[start:start + batch_size].to(device), k, gens)
            for i in range(k - 1, -1, -1):
                x = reverse_step(model, scheduler, schedule, x, i, gens)
                bar.update(1)
            outputs.append(x.float().cpu())
    bar.close()
    return ForwardBackward(x0_hat=torch.cat(outputs), t_model=schedule.t_model(k), **common)


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")
