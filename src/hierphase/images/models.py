"""Pretrained image diffusion models behind one small interface.

:class:`DiffusionModel` is an ``nn.Module`` whose call ``model(x_t, t_model)`` takes images in the
model's pixel scale ([-1, 1]) and the *original* 0-based timesteps (LongTensor (B,)) and returns
``(eps, var_values)``: the predicted noise, float32 (B, C, H, W), and, for models that learn their
variance, the raw variance channels in [-1, 1] (OpenAI's ``learned_range`` parametrisation), else
``None``. Attributes: ``image_size``, ``channels``, ``learned_variance``.

Adapters:

- :func:`load_adm`: OpenAI guided-diffusion (ADM) checkpoints, e.g. ``256x256_diffusion_uncond.pt``
  with the paper's flags (:class:`AdmFlags` defaults). The network is OpenAI's own code from the
  ``guided-diffusion-sdk`` package (extra ``hierphase[images-adm]``), loaded strictly.
- :func:`load_diffusers_unet`: any diffusers ``UNet2DModel`` saved with ``save_pretrained`` (a
  model folder, or a pipeline folder with a ``unet/`` subfolder); :func:`wrap_diffusers_unet` for
  one in memory.
- :func:`load_model` dispatches on ``kind`` (``"adm"`` or ``"diffusers"``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from hierphase.devices import resolve_device
from hierphase.io import load_tensors

__all__ = [
    "DiffusionModel",
    "AdmFlags",
    "AdmModel",
    "DiffusersUNetModel",
    "build_adm",
    "load_adm",
    "load_diffusers_unet",
    "wrap_diffusers_unet",
    "load_model",
    "resolve_dtype",
    "MODEL_PATH_KEY",
]

MODEL_PATH_KEY = "images.model.path"

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"`` is float16 on CUDA (the paper's setting) and float32 elsewhere."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


class DiffusionModel(nn.Module):
    """Interface of every image diffusion model (see the module docstring)."""

    image_size: int
    channels: int
    learned_variance: bool

    def forward(self, x_t: torch.Tensor, t_model: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


# ---------------------------------------------------------------- OpenAI ADM (guided-diffusion)
@dataclass(frozen=True)
class AdmFlags:
    """guided-diffusion ``create_model`` flags. Defaults: the paper's 256x256 unconditional model
    (attention_resolutions 32,16,8; num_channels 256; num_head_channels 64; num_res_blocks 2;
    resblock_updown; use_scale_shift_norm; learn_sigma)."""

    image_size: int = 256
    num_channels: int = 256
    num_res_blocks: int = 2
    channel_mult: str = ""
    learn_sigma: bool = True
    class_cond: bool = False
    attention_resolutions: str = "32,16,8"
    num_heads: int = 4
    num_head_channels: int = 64
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    dropout: float = 0.0
    resblock_updown: bool = True
    use_new_attention_order: bool = False


def _guided_diffusion():
    try:
        with warnings.catch_warnings():  # its torch.cuda.amp decorators are deprecated, harmless
            warnings.simplefilter("ignore", FutureWarning)
            from guided_diffusion import script_util
    except ImportError as err:  # pragma: no cover - the dev extra installs it
        raise ImportError(
            "The ADM adapter needs OpenAI's guided-diffusion code: pip install "
            "'hierphase[images-adm]' (PyPI package guided-diffusion-sdk)") from err
    return script_util


def build_adm(flags: AdmFlags | None = None, **overrides) -> nn.Module:
    """A randomly initialised guided-diffusion ``UNetModel`` (float32) with ``flags``."""
    flags = replace(flags or AdmFlags(), **overrides)
    if flags.class_cond:
        raise ValueError("class-conditional ADM models are not supported (the paper's is "
                         "unconditional): set class_cond false")
    script_util = _guided_diffusion()
    return script_util.create_model(use_checkpoint=False, use_fp16=False, **asdict(flags))


def _convert_adm(unet: nn.Module, dtype: torch.dtype) -> None:
    """OpenAI's mixed precision: convolutions of the torso in ``dtype``, embeddings, norms and
    the output head in float32 (``UNetModel.convert_to_fp16``, generalised to bfloat16)."""
    if dtype == torch.float32:
        return
    if dtype == torch.float16:                       # the paper's path, OpenAI's own code
        unet.convert_to_fp16()
        unet.dtype = dtype
        return

    def convert(layer: nn.Module) -> None:
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            layer.weight.data = layer.weight.data.to(dtype)
            if layer.bias is not None:
                layer.bias.data = layer.bias.data.to(dtype)

    for part in (unet.input_blocks, unet.middle_block, unet.output_blocks):
        part.apply(convert)
    unet.dtype = dtype


class AdmModel(DiffusionModel):
    """A guided-diffusion ``UNetModel`` as a :class:`DiffusionModel`."""

    def __init__(self, unet: nn.Module, flags: AdmFlags, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.unet = unet
        self.flags = flags
        self.image_size = flags.image_size
        self.channels = 3
        self.learned_variance = flags.learn_sigma
        self.compute_dtype = dtype

    def forward(self, x_t, t_model):
        out = self.unet(x_t.float(), t_model).float()
        if self.learned_variance:
            eps, var_values = out.split(self.channels, dim=1)
            return eps, var_values
        return out, None


def _missing_model(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"Diffusion model not found at {str(path)!r} (config key {MODEL_PATH_KEY}). {what}")


def load_adm(path: str | os.PathLike, flags: AdmFlags | None = None, *,
             device: str | torch.device | None = "auto", dtype: str | torch.dtype = "auto",
             **overrides) -> AdmModel:
    """Load an OpenAI ADM checkpoint strictly into the network ``flags`` describes.

    ``dtype``: ``"auto"`` (float16 on CUDA as in the paper, float32 on CPU), ``"float32"``,
    ``"float16"`` or ``"bfloat16"`` (torso convolutions in that type, the rest float32).
    """
    path = Path(path)
    if not path.is_file():
        raise _missing_model(path, "Download OpenAI's 256x256_diffusion_uncond.pt (linked from the "
                                   "openai/guided-diffusion README) and set the key to its path.")
    flags = replace(flags or AdmFlags(), **overrides)
    unet = build_adm(flags)
    state = load_tensors(path, hint="download it again (config key images.model.path)")
    try:
        unet.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"{path} does not match the ADM flags {flags}: {err}") from err
    device = resolve_device(device, key="images.device")
    dt = resolve_dtype(dtype, device)
    _convert_adm(unet, dt)
    return AdmModel(unet, flags, dt).to(device).eval().requires_grad_(False)


# ---------------------------------------------------------------------------- diffusers UNet2DModel
class DiffusersUNetModel(DiffusionModel):
    """A diffusers ``UNet2DModel`` as a :class:`DiffusionModel`; it learns its variance when it has
    twice as many output as input channels (OpenAI's layout: eps, then variance values)."""

    def __init__(self, unet: nn.Module, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.unet = unet
        cfg = unet.config
        size = cfg.sample_size
        self.image_size = int(size if isinstance(size, int) else size[0])
        self.channels = int(cfg.in_channels)
        if cfg.out_channels not in (cfg.in_channels, 2 * cfg.in_channels):
            raise ValueError(f"UNet2DModel with {cfg.in_channels} input and {cfg.out_channels} "
                             "output channels is neither epsilon nor epsilon+variance")
        self.learned_variance = cfg.out_channels == 2 * cfg.in_channels
        self.compute_dtype = dtype

    def forward(self, x_t, t_model):
        out = self.unet(x_t.to(self.compute_dtype), t_model).sample.float()
        if self.learned_variance:
            eps, var_values = out.split(self.channels, dim=1)
            return eps, var_values
        return out, None


def wrap_diffusers_unet(unet: nn.Module) -> DiffusersUNetModel:
    """An in-memory ``UNet2DModel`` (e.g. one being trained) as a :class:`DiffusionModel`."""
    return DiffusersUNetModel(unet, next(unet.parameters()).dtype)


def load_diffusers_unet(path: str | os.PathLike, *, device: str | torch.device | None = "auto",
                        dtype: str | torch.dtype = "float32") -> DiffusersUNetModel:
    """Load a ``UNet2DModel`` folder (``config.json`` + weights), or a pipeline folder holding
    one in ``unet/``."""
    from diffusers import UNet2DModel

    path = Path(path)
    folder = path / "unet" if (path / "unet" / "config.json").is_file() else path
    if not (folder / "config.json").is_file():
        raise _missing_model(path, "Expected a diffusers UNet2DModel folder (config.json and "
                                   "diffusion_pytorch_model.safetensors, as written by "
                                   "save_pretrained), or a pipeline folder with unet/.")
    device = resolve_device(device, key="images.device")
    dt = resolve_dtype(dtype, device)
    unet = UNet2DModel.from_pretrained(folder, torch_dtype=dt)
    return DiffusersUNetModel(unet, dt).to(device).eval().requires_grad_(False)


def load_model(kind: str, path: str | os.PathLike, *, device: str | torch.device | None = "auto",
               dtype: str | torch.dtype = "auto", flags: dict | None = None) -> DiffusionModel:
    """``kind="adm"`` -> :func:`load_adm` (``flags``: :class:`AdmFlags` fields);
    ``kind="diffusers"`` -> :func:`load_diffusers_unet` (``"auto"`` dtype means float32)."""
    if kind == "adm":
        return load_adm(path, AdmFlags(**(flags or {})), device=device, dtype=dtype)
    if kind == "diffusers":
        return load_diffusers_unet(path, device=device,
                                   dtype="float32" if dtype == "auto" else dtype)
    raise ValueError(f"images.model.kind must be 'adm' or 'diffusers', got {kind!r}")
