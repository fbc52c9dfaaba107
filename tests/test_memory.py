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
