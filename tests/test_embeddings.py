"""hierphase.images.embeddings: pixel blocks, a classifier's feature map and CLIP patch tokens (a
tiny randomly initialised CLIP written to disk as transformers writes one, loaded offline)."""

from __future__ import annotations

import pytest
import torch

from hierphase.images import embeddings as E
from hierphase.images.classifiers import build_classifier

torch.set_num_threads(1)


def _images(n=3, c=1, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, c, size, size), generator=g) * 2 - 1


def test_pixel_patches_are_the_blocks_of_the_centre_crop():
    x = _images(2, 3, 12)
    z = E.PixelPatches(2)(x)
    assert z.shape == (2, 6, 6, 12)
    assert torch.equal(z[1, 2, 4], x[1, :, 4:6, 8:10].reshape(-1))
    cropped = E.PixelPatches(4, crop=8)(x)  # rows and columns 2..9
    assert cropped.shape == (2, 2, 2, 48)
    assert torch.equal(cropped[0, 1, 0], x[0, :, 6:10, 2:6].reshape(-1))


@pytest.mark.torchvision
@pytest.mark.parametrize("height, width, size", [(12, 12, 8), (13, 12, 8), (12, 13, 7), (9, 10, 4)])
def test_centre_crop_rounds_as_torchvision(height, width, size):
    from torchvision.transforms.v2.functional import center_crop

    x = torch.arange(2 * height * width, dtype=torch.float32).reshape(1, 2, height, width)
    assert torch.equal(E.centre_crop(x, size), center_crop(x, [size, size]))


def test_classifier_layer_patches_are_its_feature_map():
    torch.manual_seed(0)
    clf = build_classifier("digits_cnn", None, device="cpu", random_init=True)
    x = _images(5)
    z = E.LayerPatches(clf, "block2", batch_size=2)(x)
    _, feats = clf(x)
    assert z.shape == (5, 8, 8, feats["block2"].shape[1])  # half resolution of 16 px
    torch.testing.assert_close(z.reshape(5, 64, -1), feats["block2"].transpose(1, 2))
    with pytest.raises(ValueError, match=r"embeddings\.classifier\.layer.*not a spatial map"):
        E.LayerPatches(clf, "fc")(x)
    with pytest.raises(ValueError, match=r"embeddings\.mine\.layer.*no hooked layer"):
        E.LayerPatches(clf, "conv9", name="mine")


def _tiny_clip_config(image_size=28, patch_size=4):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, image_size=image_size, patch_size=patch_size)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A randomly initialised CLIPVisionModel saved with save_pretrained: a 7 x 7 grid at 28 px."""
    from transformers import CLIPVisionModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip")
    CLIPVisionModel(_tiny_clip_config()).save_pretrained(path)
    return path


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_clip_patches_are_last_layer_tokens_before_the_final_norm(tiny_clip):
    model = E.load_clip_vision(tiny_clip, device="cpu")
    emb = E.ClipPatches(model, crop=28, batch_size=2)
    x = _images(3, 3, 32)
    z = emb(x)
    assert z.shape == (3, 7, 7, 32)
    # by hand: centre crop (rows/columns 2..29), [0, 1], CLIP's normalisation, tokens 1..49
    crop = (x[:, :, 2:30, 2:30] + 1) / 2
    pixels = (crop - torch.tensor(E.CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(E.CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        out = model(pixel_values=pixels)
    tokens = out.last_hidden_state[:, 1:]
    torch.testing.assert_close(z.reshape(3, 49, 32), tokens)
    # before the final layer norm: what post_layernorm would give differs
    norm = getattr(model, "vision_model", model).post_layernorm  # transformers 4 nests it
    assert not torch.allclose(norm(tokens), tokens, atol=1e-3)
    # a grey image is read as RGB; a crop other than the model's size is resized to it
    assert emb(_images(2, 1, 32)).shape == (2, 7, 7, 32)
    assert E.ClipPatches(model, crop=None)(x).shape == (3, 7, 7, 32)


def test_clip_loads_from_a_whole_clip_model_folder(tmp_path):
    """A snapshot of openai/clip-vit-base-patch32 is a CLIPModel (text and vision towers): its
    vision tower loads with the same weights."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(1)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                vocab_size=99, max_position_embeddings=16)
    full = CLIPModel(CLIPConfig(text_config=text, vision_config=_tiny_clip_config().to_dict(),
                                projection_dim=16))
    full.save_pretrained(tmp_path)
    vision = E.load_clip_vision(tmp_path, device="cpu")
    x = _images(2, 3, 28)
    with torch.no_grad():
        expect = full.vision_model(pixel_values=x).last_hidden_state
        got = vision(pixel_values=x).last_hidden_state
    torch.testing.assert_close(got, expect)


def test_missing_clip_weights_name_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"images\.correlations\.embeddings\.clip\.weights"):
        E.load_clip_vision(tmp_path / "nope", device="cpu")
    spec = E.EmbeddingSpec(name="vit", kind="clip", image_size=32, weights=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"embeddings\.vit\.weights"):
        E.build_embeddings([spec], device="cpu")


def test_build_embeddings_in_config_order(tiny_clip):
    specs = E.specs_from_config({"clip": {"kind": "clip", "weights": str(tiny_clip), "crop": 28},
                                 "pix": {"kind": "pixels", "patch": 4, "crop": 28}}, 32)
    embs = E.build_embeddings(specs, device="cpu")
    assert list(embs) == ["clip", "pix"]
    x = _images(2, 3, 32)
    assert embs["clip"](x).shape[:3] == embs["pix"](x).shape[:3] == (2, 7, 7)


@pytest.mark.parametrize("fields,field", [
    ({"kind": "pixels"}, "patch"),
    ({"kind": "pixels", "patch": 3}, "patch"),
    ({"kind": "pixels", "patch": 2, "crop": 40}, "crop"),
    ({"kind": "classifier", "layer": "block2", "crop": 8}, "crop"),
    ({"kind": "classifier", "layer": "block2", "patch": 2}, "patch"),
    ({"kind": "clip"}, "weights"),
    ({"kind": "sift"}, "kind"),
])
def test_spec_errors_start_with_the_field(fields, field):
    """The workflow names the key from the first word of the message (package_check)."""
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        E.specs_from_config({"e": fields}, 16)
