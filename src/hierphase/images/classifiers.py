"""Classifiers with hidden-layer features, and the paper's two image observables.

:class:`FeatureClassifier` wraps any ``nn.Module`` with forward hooks on named submodules. Called
on images in [-1, 1] it returns ``(logits, {layer: features})``, layers ordered shallow -> deep,
features in a canonical float32 shape ``(B, C, S)``: channels by positions (a conv map (B, C, H, W)
becomes (B, C, H*W); a vector (B, C) becomes (B, C, 1); a token sequence (B, N, D), as in ViT,
becomes (B, D, N)).

Builders by name (:func:`build_classifier`): ``convnext_base`` (the paper's: 41 layers = stem,
the 36 CNBlocks, the 3 downsampling layers, the classifier head), ``resnet50`` (18 layers: stem,
16 bottlenecks, fc) and ``vit_b_16`` (14 layers: patch embedding, 12 encoder blocks, head; inputs
resized to 224). Their weights are torchvision ImageNet-1k state dicts read from a local file.
``digits_cnn`` is the digits classifier the pipeline trains (:mod:`hierphase.images.digits_cnn`).
Other modules register theirs with :func:`register_classifier`.

Observables, pure functions on tensors:

- :func:`feature_statistics`: per-layer, per-channel mean and std over clean images (all images
  and positions).
- :func:`layer_similarity`: standardise each channel with those statistics, flatten, cosine
  similarity between x0's and x̂0's features, per image and layer.
- :func:`class_kept`: argmax of the logits equal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hierphase.devices import resolve_device
from hierphase.io import load_tensors

from .settings import TORCHVISION_FILES, torchvision_missing
from .shards import to_model_scale

__all__ = [
    "FeatureClassifier",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "WEIGHTS_KEY",
    "register_classifier",
    "available_classifiers",
    "build_classifier",
    "torchvision_missing",
    "canonical_features",
    "feature_statistics",
    "standardise",
    "layer_similarity",
    "class_kept",
    "measure",
]

WEIGHTS_KEY = "images.classifier.weights"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def canonical_features(out: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H*W); (B, C) -> (B, C, 1); (B, N, D) -> (B, D, N); float32."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.ndim == 4:
        out = out.flatten(2)
    elif out.ndim == 2:
        out = out.unsqueeze(-1)
    elif out.ndim == 3:
        out = out.transpose(1, 2)
    else:
        raise ValueError(f"cannot read features of shape {tuple(out.shape)}")
    return out.float()


class FeatureClassifier(nn.Module):
    """``module`` returning the outputs of ``layers`` (submodule names, shallow -> deep) beside its
    logits, read by forward hooks on those submodules. Hooks are torch's own mechanism for this
    and need nothing else: the CPU-only environment, which has no torchvision, reads the digits
    classifier's layers the same way (torchvision's ``create_feature_extractor`` gives the same
    tensors for every classifier here, but needs torchvision and a module ``torch.fx`` can trace).
    A hooked submodule must run once per forward pass (a shared one that runs twice is refused).

    Inputs are images in [-1, 1]. Without ``mean``/``std`` the module receives them as they are
    (a model trained on [-1, 1], like ``digits_cnn``); with them (torchvision models, whose
    normalisation is defined on [0, 1]) they are mapped to [0, 1] and normalised per channel.
    ``input_size`` resizes first (bilinear, antialiased) when the model needs a fixed size.
    """

    def __init__(self, module: nn.Module, layers: Sequence[str], *,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 input_size: int | None = None, name: str = "classifier"):
        super().__init__()
        self.module = module.eval().requires_grad_(False)
        self.layer_names = list(layers)
        if len(set(self.layer_names)) != len(self.layer_names):
            raise ValueError("FeatureClassifier: layer names repeat")
        modules = dict(module.named_modules())
        missing = [n for n in self.layer_names if n not in modules]
        if missing:
            raise ValueError(f"FeatureClassifier: no submodule named {missing}")
        self.name = name
        self.input_size = input_size
        self.register_buffer("mean", None if mean is None else torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", None if std is None else torch.tensor(std).view(1, -1, 1, 1))
        self._captured: dict[str, torch.Tensor] | None = None
        for layer in self.layer_names:
            modules[layer].register_forward_hook(self._hook(layer))

    def _hook(self, layer: str) -> Callable:
        def hook(_module, _inputs, output):
            if self._captured is None:  # a forward of the bare module, not through this wrapper
                return
            if layer in self._captured:
                raise RuntimeError(f"FeatureClassifier: layer {layer!r} ran twice in one forward "
                                   "pass (a shared submodule); hook a layer that runs once")
            self._captured[layer] = output

        return hook

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().to(self.device)
        if self.input_size is not None and x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        if self.mean is not None:
            x = ((x + 1) / 2 - self.mean) / self.std
        return x

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The logits and each hooked layer's output as the layer returns it, for images ``x``
        in [-1, 1]."""
        self._captured = {}
        try:
            with torch.inference_mode():
                logits = self.module(self.preprocess(x))
            return logits, {layer: self._captured[layer] for layer in self.layer_names}
        finally:
            self._captured = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, out = self.outputs(x)
        return logits.float(), {layer: canonical_features(out[layer]) for layer in self.layer_names}


# ----------------------------------------------------------------------------------- registry
_BUILDERS: dict[str, Callable[..., FeatureClassifier]] = {}


def register_classifier(name: str) -> Callable:
    """Decorator registering ``builder(weights: Path | None) -> FeatureClassifier`` as ``name``.
    ``weights`` is None only when the caller asked for a random initialisation."""
    def deco(builder: Callable[..., FeatureClassifier]) -> Callable[..., FeatureClassifier]:
        _BUILDERS[name] = builder
        return builder
    return deco


def available_classifiers() -> list[str]:
    return sorted(_BUILDERS)


def build_classifier(name: str, weights: str | os.PathLike | None, *,
                     device: str | torch.device | None = "auto",
                     random_init: bool = False) -> FeatureClassifier:
    """The classifier ``name`` with weights from the local file ``weights`` (config key
    ``images.classifier.weights``). ``random_init=True`` (tests only) allows ``weights=None``."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown classifier {name!r} (images.classifier.name); "
                         f"available: {available_classifiers()}")
    if weights is None:
        if not random_init:
            raise ValueError(f"No classifier weights given: set {WEIGHTS_KEY} to the local file "
                             f"of {name}'s weights")
        path = None
    else:
        path = Path(weights)
        if not path.is_file():
            hint = TORCHVISION_FILES.get(name, "the state dict the pipeline trained")
            raise FileNotFoundError(
                f"Classifier weights not found at {str(path)!r} (config key {WEIGHTS_KEY}). "
                f"Expected {hint}.")
    return _BUILDERS[name](path).to(resolve_device(device, key="images.device"))


# ------------------------------------------------------------------------ torchvision classifiers
def _torchvision_models(name: str):
    """``torchvision.models``, or an ImportError saying how to get it."""
    why = torchvision_missing(name)
    if why:
        raise ImportError(f"{WEIGHTS_KEY.rsplit('.', 1)[0]}.name: {why}")
    import torchvision.models

    return torchvision.models


def _build_torchvision(builder: Callable[..., nn.Module], path: Path | None) -> nn.Module:
    """``builder(weights=None)`` with the state dict at ``path`` (random init where ``path`` is
    None). With a file the module is built on the meta device and takes the file's tensors as
    they are: no random initialisation of weights that are overwritten anyway (seconds on CPU
    for ConvNeXt-Base)."""
    if path is None:
        return builder(weights=None)
    state = load_tensors(path, hint=f"download it again (config key {WEIGHTS_KEY})")
    with torch.device("meta"):
        module = builder(weights=None)
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise RuntimeError(f"{path} ({WEIGHTS_KEY}) is not a state dict of this "
                           f"classifier: {err}") from err
    missing = [name for name, t in (*module.named_parameters(), *module.named_buffers())
               if t.is_meta]
    if missing:  # a tensor the state dict does not hold (none in the supported models)
        raise RuntimeError(f"{path} ({WEIGHTS_KEY}) leaves {missing[:3]} uninitialised")
    return module


def convnext_layers(model: nn.Module) -> list[str]:
    """The paper's 41 ConvNeXt modules: stem, every CNBlock, the downsampling layers, the head."""
    from torchvision.models.convnext import CNBlock

    names = []
    for idx, part in enumerate(model.features):
        if idx == 0 or not any(isinstance(m, CNBlock) for m in part.children()):
            names.append(f"features.{idx}")          # stem or downsampling layer
        else:
            names += [f"features.{idx}.{j}" for j, block in enumerate(part)
                      if isinstance(block, CNBlock)]
    return names + ["classifier"]


@register_classifier("convnext_base")
def _convnext_base(weights: Path | None) -> FeatureClassifier:
    model = _build_torchvision(_torchvision_models("convnext_base").convnext_base, weights)
    return FeatureClassifier(model, convnext_layers(model), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                             name="convnext_base")


@register_classifier("resnet50")
def _resnet50(weights: Path | None) -> FeatureClassifier:
    model = _build_torchvision(_torchvision_models("resnet50").resnet50, weights)
    layers = ["maxpool"] + [f"layer{i}.{j}" for i, n in zip(range(1, 5), (3, 4, 6, 3))
                            for j in range(n)] + ["fc"]
    return FeatureClassifier(model, layers, mean=IMAGENET_MEAN, std=IMAGENET_STD, name="resnet50")


@register_classifier("vit_b_16")
def _vit_b_16(weights: Path | None) -> FeatureClassifier:
    model = _build_torchvision(_torchvision_models("vit_b_16").vit_b_16, weights)
    layers = (["conv_proj"] + [f"encoder.layers.encoder_layer_{i}" for i in range(12)]
              + ["heads"])
    return FeatureClassifier(model, layers, mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=224,
                             name="vit_b_16")


@register_classifier("digits_cnn")
def _digits_cnn(weights: Path | None) -> FeatureClassifier:
    """The digits CNN the pipeline trains (inputs in [-1, 1], no normalisation)."""
    from hierphase.images.digits_cnn import DIGITS_LAYERS, DigitsCNN, load_digits_cnn_module

    module = DigitsCNN() if weights is None else load_digits_cnn_module(weights)
    return FeatureClassifier(module, DIGITS_LAYERS, name="digits_cnn")


# --------------------------------------------------------------------------------- observables
def _batches(images: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    for start in range(0, images.shape[0], batch_size):
        yield images[start:start + batch_size]


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]; float images pass through."""
    return to_model_scale(images) if images.dtype == torch.uint8 else images.float()


def feature_statistics(classifier: FeatureClassifier, images: torch.Tensor, *,
                       batch_size: int = 32, progress: bool = True
                       ) -> dict[str, dict[str, torch.Tensor]]:
    """Per-layer, per-channel ``{"mean": {layer: (C,)}, "std": {layer: (C,)}}`` of the
    classifier's features over ``images`` (uint8 or float in [-1, 1]), pooled over images and
    positions (population std), accumulated in float64."""
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    n_batches = -(-images.shape[0] // batch_size)
    for batch in tqdm(_batches(images, batch_size), total=n_batches, disable=not progress,
                      desc=f"feature statistics ({classifier.name})"):
        _, feats = classifier(to_unit(batch))
        for layer, f in feats.items():
            f = f.double()
            s, q = f.sum(dim=(0, 2)).cpu(), f.square().sum(dim=(0, 2)).cpu()
            sums[layer] = sums.get(layer, 0) + s
            squares[layer] = squares.get(layer, 0) + q
            counts[layer] = counts.get(layer, 0) + f.shape[0] * f.shape[2]
    mean, std = {}, {}
    for layer in classifier.layer_names:
        m = sums[layer] / counts[layer]
        var = (squares[layer] / counts[layer] - m.square()).clamp_min(0)
        mean[layer], std[layer] = m.float(), var.sqrt().float()
    return {"mean": mean, "std": std}


def standardise(features: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                tol: float = 1e-6) -> torch.Tensor:
    """(B, C, S) features minus the channel mean over the channel std. Channels whose std over
    the clean images is below ``tol`` (relative to the layer's largest std) carry no information
    about the clean images and are set to 0 rather than blown up."""
    mean = mean.to(features.device).view(1, -1, 1)
    std = std.to(features.device).view(1, -1, 1)
    alive = std > tol * std.max().clamp_min(torch.finfo(std.dtype).tiny)
    return torch.where(alive, (features - mean) / torch.where(alive, std, 1.0), 0.0)


def layer_similarity(features_a: Mapping[str, torch.Tensor], features_b: Mapping[str, torch.Tensor],
                     stats: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per layer, the per-image cosine similarity (B,) of the standardised, flattened features."""
    out = {}
    for layer, a in features_a.items():
        b = features_b[layer]
        za = standardise(a, stats["mean"][layer], stats["std"][layer]).flatten(1)
        zb = standardise(b, stats["mean"][layer], stats["std"][layer]).flatten(1)
        out[layer] = F.cosine_similarity(za.double(), zb.double(), dim=1, eps=1e-12).float().cpu()
    return out


def class_kept(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """BoolTensor (B,): the predicted classes (argmax) agree."""
    return logits_a.argmax(dim=1).cpu() == logits_b.argmax(dim=1).cpu()


def measure(classifier: FeatureClassifier, x0: torch.Tensor, x0_hat: torch.Tensor,
            stats: Mapping[str, Mapping[str, torch.Tensor]], *, batch_size: int = 32,
            progress: bool = True) -> dict[str, torch.Tensor]:
    """Both observables for paired images (uint8 or float in [-1, 1]):
    ``pred_x0``, ``pred_x0_hat`` (N,), ``kept`` (N,) bool, ``similarity`` (N, n_layers) with
    columns in ``classifier.layer_names`` order."""
    preds_a, preds_b, sims = [], [], []
    n_batches = -(-x0.shape[0] // batch_size)
    pairs = zip(_batches(x0, batch_size), _batches(x0_hat, batch_size))
    for a, b in tqdm(pairs, total=n_batches, disable=not progress,
                     desc=f"classifier ({classifier.name})"):
        logits_a, feats_a = classifier(to_unit(a))
        logits_b, feats_b = classifier(to_unit(b))
        sim = layer_similarity(feats_a, feats_b, stats)
        sims.append(torch.stack([sim[layer] for layer in classifier.layer_names], dim=1))
        preds_a.append(logits_a.argmax(1).cpu())
        preds_b.append(logits_b.argmax(1).cpu())
    pred_a, pred_b = torch.cat(preds_a), torch.cat(preds_b)
    return {"pred_x0": pred_a, "pred_x0_hat": pred_b, "kept": pred_a == pred_b,
            "similarity": torch.cat(sims)}
