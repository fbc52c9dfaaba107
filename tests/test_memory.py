"""The planning checks' memory estimates count the models they are about without building them:
the closed-form parameter counts equal the built models' counts exactly, over shapes beyond the
defaults (the estimates' agreement with measured peaks is in ``test_hostile_memory.py``)."""

from __future__ import annotations

import pytest

from hierphase import memory
from hierphase.images.settings import ClassifierTrainConfig, DDPMTrainConfig


@pytest.mark.parametrize("channels, blocks, layers, attention", [
    (1, (32, 64, 64), 1, True), (1, (16, 32), 1, True), (3, (32, 64), 2, False), (1, (8,), 1, True),
    (3, (16, 32, 32, 64), 2, True), (2, (24, 8, 16), 3, False)])
def test_unet_parameter_count_is_the_built_models(channels, blocks, layers, attention):
    from hierphase.images.ddpm_training import build_digits_unet

    cfg = DDPMTrainConfig(block_out_channels=blocks, layers_per_block=layers, attention=attention)
    built = sum(p.numel() for p in build_digits_unet(16, channels, cfg).parameters())
    assert memory.unet_parameter_count(channels, blocks, layers, attention) == built


@pytest.mark.parametrize("channels, width", [(1, 32), (3, 8), (1, 5)])
def test_digits_cnn_parameter_count_is_the_built_models(channels, width):
    from hierphase.images.digits_cnn import DigitsCNN

    built = sum(p.numel() for p in DigitsCNN(channels, width).parameters())
    assert memory.digits_cnn_parameter_count(channels, width) == built


@pytest.mark.parametrize("in_channels, vocab, s, L, width, blocks, expansion", [
    (9, 8, 2, 3, 64, 1, 2), (1, 16, 3, 4, 96, 0, 4), (17, 16, 4, 2, 5, 3, 1), (3, 2, 2, 1, 1, 2, 3)])
def test_tree_unet_parameter_count_is_the_built_models(in_channels, vocab, s, L, width, blocks,
                                                       expansion):
    from hierphase.learned.networks import NetworkConfig, TreeUNet

    net = TreeUNet(NetworkConfig(in_channels, vocab, s, L, width, blocks, expansion))
    assert memory.tree_unet_parameter_count(in_channels, vocab, s, L, width, blocks, expansion) \
        == sum(p.numel() for p in net.parameters())


def test_tree_estimates_count_every_node():
    # a binary tree of depth 3: 15 nodes; a batch of 2 holds 2 x (8 leaves x v + 7 x 15) values
    assert memory.tree_nodes(2, 3) == 15 and memory.tree_nodes(3, 2) == 13
    assert memory.bp_sweep_bytes(4, 2, 3, 2) == 8 * 2 * (8 * 4 + 7 * 15)
    assert memory.trees_bytes(2, 3, 5) == 8 * 5 * (15 + 2 * 8)
    with pytest.raises(ValueError, match="process"):
        memory.bp_trajectories_bytes(4, 2, 3, 8, "diffusion")
    with pytest.raises(ValueError, match="n_classes"):
        memory.flat_mixture_bytes(4, 1, 8, 8, "epsilon")
    with pytest.raises(ValueError, match="process"):
        memory.flat_mixture_bytes(4, 2, 8, 8, "diffusion")


def test_training_estimates_grow_with_the_batch_and_refuse_nonsense():
    ddpm, clf = DDPMTrainConfig(), ClassifierTrainConfig()
    assert memory.ddpm_train_bytes(32, 1, 128, ddpm) > memory.ddpm_train_bytes(32, 1, 64, ddpm)
    assert memory.classifier_train_bytes(32, 1, 128, clf) > memory.classifier_train_bytes(32, 1, 64, clf)
    with pytest.raises(ValueError, match="batch_size"):
        memory.ddpm_train_bytes(32, 1, 0, ddpm)
    with pytest.raises(ValueError, match="layers_per_block"):
        memory.unet_parameter_count(1, (8,), 0, True)


@pytest.mark.parametrize("name, size, width", [
    ("digits_cnn", 16, 32), ("digits_cnn", 24, 8),
    *(pytest.param(*case, marks=pytest.mark.torchvision) for case in [
        ("convnext_base", 96, 32), ("convnext_base", 256, 32), ("resnet50", 64, 32),
        ("vit_b_16", 48, 32)])])
def test_classifier_layers_are_the_built_models(name, size, width):
    """The hooked layers' names and sizes and the parameters, counted on the registered
    classifiers built without weights (on PyTorch's meta device: shapes only, no arithmetic)."""
    import torch

    from hierphase.images import classifiers as C
    from hierphase.images.digits_cnn import DIGITS_LAYERS, DigitsCNN

    channels = 1 if name == "digits_cnn" else 3
    with torch.device("meta"):
        clf = C.FeatureClassifier(DigitsCNN(channels, width), DIGITS_LAYERS) \
            if name == "digits_cnn" else C._BUILDERS[name](None)
        _, features = clf(torch.empty(2, channels, size, size))
    assert memory.classifier_layer_floats(name, size, width) == \
        {layer: f[0].numel() for layer, f in features.items()}
    assert memory.classifier_parameter_count(name, channels, width) == \
        sum(p.numel() for p in clf.module.parameters())


def _attention_heads(unet, kind: str, heads: str, *inputs) -> dict[int, int]:
    """{side of its input: heads} of every attention layer (class ``kind``) of ``unet`` in a
    forward of ``inputs``."""
    built = {}

    def record(layer, args, _):
        built[args[0].shape[-1]] = getattr(layer, heads)

    for layer in unet.modules():
        if type(layer).__name__ == kind:
            layer.register_forward_hook(record)
    unet(*inputs)
    return built


@pytest.mark.parametrize("flags", [
    {}, {"image_size": 64, "num_channels": 32, "num_res_blocks": 1, "attention_resolutions": "16,8",
     "num_head_channels": 32},
    {"image_size": 32, "num_channels": 32, "channel_mult": "1,2,2", "num_head_channels": -1,
     "num_heads": 2, "attention_resolutions": "16"}])
def test_adm_shape_is_the_built_models(flags):
    """Widths per level and heads per attention resolution of guided-diffusion's UNetModel."""
    import torch

    from hierphase.images.models import AdmFlags, build_adm

    size, widths, blocks, heads = memory.adm_shape(flags)
    with torch.device("meta"):
        unet = build_adm(AdmFlags(**flags))
    assert widths == [int(unet.model_channels * m) for m in unet.channel_mult]
    assert blocks == unet.num_res_blocks
    with torch.device("meta"):
        assert heads == _attention_heads(unet, "AttentionBlock", "num_heads",
                                         torch.empty(1, 3, size, size), torch.zeros(1))


def test_image_job_estimates_refuse_nonsense():
    with pytest.raises(ValueError, match="classifier"):
        memory.classifier_layer_floats("alexnet", 64)
    with pytest.raises(ValueError, match="batch_size"):
        memory.classifier_measure_bytes("digits_cnn", 16, 1, 0, 10)
    with pytest.raises(ValueError, match="channel_mult"):
        memory.adm_shape({"image_size": 48})
    # on a GPU the host holds weights, images and the CUDA libraries, not the batches
    cpu = memory.classifier_measure_bytes("convnext_base", 256, 3, 64, 100)
    gpu = memory.classifier_measure_bytes("convnext_base", 256, 3, 64, 100, on_gpu=True)
    assert gpu < cpu and gpu == memory.classifier_measure_bytes("convnext_base", 256, 3, 1, 100,
                                                                on_gpu=True)


@pytest.mark.parametrize("size, blocks, attention", [(16, (16, 32), True), (32, (16, 32, 64), False)])
def test_diffusers_shape_is_the_built_models(size, blocks, attention):
    """Widths and heads per attention side of a diffusers UNet2DModel, read from its config."""
    import torch

    from hierphase.images.ddpm_training import build_digits_unet

    cfg = DDPMTrainConfig(block_out_channels=blocks, attention=attention)
    unet = build_digits_unet(size, 1, cfg)
    shape = memory.diffusers_shape(dict(unet.config))
    assert shape[:3] == (size, list(blocks), cfg.layers_per_block)
    with torch.no_grad():
        assert shape[3] == _attention_heads(unet, "Attention", "heads",
                                            torch.zeros(1, 1, size, size), 0)
