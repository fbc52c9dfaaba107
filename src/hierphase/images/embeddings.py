"""Patch embeddings: an image becomes a grid of vectors ``f_i(x)``, one per patch ``i``.

The change of patch ``i`` between a clean image ``x0`` and a forward-backward output ``x̂0`` is
``delta_i = ||f_i(x0) - f_i(x̂0)|| / sqrt(D)`` (:func:`hierphase.correlations.continuous_changes`
with the feature axis); its connected correlations over trajectories of one image are measured
by :mod:`hierphase.correlations` on the patch grid. Three readings of "patch":

- ``classifier``: the classifier's own feature map at a named layer, ``(C, H, W)`` read as an
  ``H x W`` grid of ``C``-vectors (the raw activations, not standardised). The digits default.
- ``pixels``: non-overlapping ``patch x patch`` pixel blocks (``D = channels * patch**2``), after
  an optional centre crop. No model: the baseline that shows what an encoder adds.
- ``clip``: CLIP ViT last-layer patch tokens, before the final layer norm (the class token
  dropped), of the centre crop resized to the model's input size (the follow-up's reading: ViT-B/32
  on the 224 centre crop, a 7 x 7 grid of 768-vectors). Weights come from a local folder written by
  ``transformers``' ``save_pretrained`` (``config.json`` and the weights, e.g. a snapshot of
  ``openai/clip-vit-base-patch32``); nothing is downloaded.

Every embedding is a callable ``images -> (B, h, w, D)`` float32 CPU tensor, images float in
[-1, 1] ``(B, C, H, W)``, with an attribute ``name``. :class:`EmbeddingSpec` is the validated
config of one embedding (:func:`specs_from_config` reads the config's mapping);
:func:`build_embeddings` turns specs into callables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from hierphase.devices import resolve_device
from hierphase.images.settings import KINDS, EmbeddingSpec, embedding_key, specs_from_config

__all__ = [
    "KINDS",
    "CLIP_MEAN",
    "CLIP_STD",
    "EmbeddingSpec",
    "PixelPatches",
    "LayerPatches",
    "ClipPatches",
    "centre_crop",
    "load_clip_vision",
    "build_embeddings",
    "specs_from_config",
    "embedding_key",
]

#: OpenAI CLIP's input normalisation (on [0, 1] pixels).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
def centre_crop(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central ``size x size`` of ``(B, C, H, W)`` images (torchvision's rounding); None or
    the full size: the images themselves."""
    if size is None or images.shape[-2:] == (size, size):
        return images
    height, width = images.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop {size} is larger than the images ({height}x{width})")
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return images[..., top:top + size, left:left + size]


def _batches(images: torch.Tensor, batch_size: int):
    for start in range(0, images.shape[0], batch_size):
        yield images[start:start + batch_size]


class PixelPatches:
    """Non-overlapping ``patch x patch`` pixel blocks of the centre crop, flattened per block
    (channel-major): ``(B, h, w, C * patch**2)``."""

    def __init__(self, patch: int, crop: int | None = None, name: str = "pixels"):
        self.patch, self.crop, self.name = int(patch), crop, name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = centre_crop(images.float(), self.crop)
        B, C, H, W = x.shape
        p = self.patch
        if H % p or W % p:
            raise ValueError(f"{self.name}: patch {p} does not divide the {H}x{W} image")
        blocks = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
        return blocks.reshape(B, H // p, W // p, C * p * p).contiguous().cpu()


class LayerPatches:
    """A classifier's feature map at ``layer``, ``(B, C, H, W)`` -> ``(B, H, W, C)``.

    ``classifier`` is a :class:`hierphase.images.classifiers.FeatureClassifier`; the layer must
    be one it hooks and return a spatial map (a convolutional layer, not a vector or a token
    sequence)."""

    def __init__(self, classifier, layer: str, *, batch_size: int = 64, name: str = "classifier"):
        if layer not in classifier.layer_names:
            raise ValueError(f"{embedding_key(name, 'layer')}: {classifier.name} has no hooked "
                             f"layer {layer!r}; its layers: {classifier.layer_names}")
        self.classifier, self.layer, self.batch_size, self.name = classifier, layer, batch_size, name

    def _maps(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.classifier.outputs(batch)[1][self.layer]
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim != 4:
            raise ValueError(f"{embedding_key(self.name, 'layer')}: layer {self.layer!r} of "
                             f"{self.classifier.name} returns shape {tuple(out.shape)}, not a "
                             "spatial map (B, C, H, W); choose a convolutional layer")
        return out.float().permute(0, 2, 3, 1).contiguous().cpu()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._maps(b) for b in _batches(images, self.batch_size)])


def load_clip_vision(path: str | os.PathLike, *, device: str | torch.device | None = "auto",
                     key: str = embedding_key("clip", "weights")):
    """A ``transformers`` ``CLIPVisionModel`` from a local folder (``config.json`` + weights of
    a CLIPVisionModel or a whole CLIPModel), offline, float32, in eval mode."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"CLIP weights not found at {str(path)!r} (config key {key}): expected a folder with "
            "config.json and the weights, as written by transformers' save_pretrained (e.g. a "
            "snapshot of openai/clip-vit-base-patch32); nothing is downloaded.")
    from transformers import CLIPVisionModel

    model = CLIPVisionModel.from_pretrained(path, local_files_only=True, torch_dtype=torch.float32)
    return model.to(resolve_device(device, key="images.device")).eval().requires_grad_(False)


class ClipPatches:
    """CLIP ViT last-layer patch tokens (before the final layer norm, class token dropped) of
    the centre ``crop``, resized (bicubic, antialiased) to the model's input size when it
    differs, normalised as CLIP expects: ``(B, g, g, hidden)``, ``g = image_size // patch_size``."""

    def __init__(self, model, crop: int | None = None, *, batch_size: int = 64,
                 name: str = "clip"):
        self.model, self.crop, self.batch_size, self.name = model, crop, batch_size, name
        cfg = model.config
        self.size, self.side = int(cfg.image_size), int(cfg.image_size) // int(cfg.patch_size)
        device = next(model.parameters()).device
        self.mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)

    def _tokens(self, batch: torch.Tensor) -> torch.Tensor:
        x = centre_crop(batch.float(), self.crop).to(self.mean.device)
        if x.shape[1] == 1:  # grey images: CLIP takes RGB
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False,
                              antialias=True)
        x = ((x + 1) / 2 - self.mean) / self.std
        with torch.inference_mode():
            hidden = self.model(pixel_values=x).last_hidden_state[:, 1:]
        return hidden.float().reshape(x.shape[0], self.side, self.side, -1).cpu()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._tokens(b) for b in _batches(images, self.batch_size)])


def build_embeddings(specs: Sequence[EmbeddingSpec], *, classifier: str | None = None,
                     classifier_weights: str | os.PathLike | None = None,
                     device: str | torch.device | None = "auto",
                     batch_size: int = 64) -> dict[str, object]:
    """``{name: embedding}`` for ``specs`` in order. The classifier (``classifier`` by name,
    weights from the local file ``classifier_weights``,
    :func:`hierphase.images.classifiers.build_classifier`) is built once, only when a spec of
    kind ``classifier`` asks for it."""
    out: dict[str, object] = {}
    clf = None
    for spec in specs:
        if spec.kind == "pixels":
            out[spec.name] = PixelPatches(spec.patch, spec.crop, name=spec.name)
        elif spec.kind == "classifier":
            if clf is None:
                from hierphase.images.classifiers import build_classifier

                clf = build_classifier(classifier, classifier_weights, device=device)
            out[spec.name] = LayerPatches(clf, spec.layer, batch_size=batch_size, name=spec.name)
        else:
            model = load_clip_vision(spec.weights, device=device,
                                     key=embedding_key(spec.name, "weights"))
            out[spec.name] = ClipPatches(model, spec.crop, batch_size=batch_size, name=spec.name)
    return out

