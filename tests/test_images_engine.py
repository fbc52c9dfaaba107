"""Images engine: respaced DDPM forward-backward, model adapters, classifier features, ImageNet
shards. Tiny randomly initialised networks and JPEGs generated here; no download."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from workflow_helpers import REPO

from hierphase.images import classifiers as C
from hierphase.images import diffusion as D
from hierphase.images import imagenet as I
from hierphase.images import models as M
from hierphase.images import shards as S
from hierphase.seeding import torch_generator

torch.set_num_threads(1)
# guided-diffusion's own torch.cuda.amp decorators are deprecated; harmless here
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.cuda.amp.custom:FutureWarning")

TINY_ADM = M.AdmFlags(image_size=16, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                      attention_resolutions="8", num_head_channels=16)


def _abar_original(T=1000):
    """Ho et al.'s linear schedule, written out here independently of the package."""
    betas = np.array([1e-4 + (0.02 - 1e-4) * j / (T - 1) for j in range(T)], dtype=np.float64)
    return np.cumprod(1.0 - betas)


@pytest.fixture(scope="module")
def adm_unet():
    torch.manual_seed(0)
    unet = M.build_adm(TINY_ADM)
    # OpenAI zero-initialises the output conv; give it weights so eps and variance are not 0.
    with torch.no_grad():
        for p in unet.out.parameters():
            p.normal_(0, 0.05)
    return unet.eval()


@pytest.fixture(scope="module")
def adm_path(adm_unet, tmp_path_factory):
    path = tmp_path_factory.mktemp("adm") / "tiny_adm.pt"
    torch.save(adm_unet.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def adm(adm_path):
    return M.load_adm(adm_path, TINY_ADM, device="cpu", dtype="float32")


def _images(n, size=16, seed=0):
    g = torch_generator(seed)
    return torch.rand((n, 3, size, size), generator=g) * 2 - 1


# ------------------------------------------------------------------------------ schedule
@pytest.mark.parametrize("counts", [250, 100, 50, 25, 10, 1000, 7, "10,15,20", "1,2,3"])
def test_space_timesteps_matches_openai(counts):
    from guided_diffusion.respace import space_timesteps as openai_space

    assert D.space_timesteps(1000, counts) == sorted(openai_space(1000, str(counts)))


def test_respaced_schedule_is_original_abar_at_kept_steps():
    sched = D.respaced_schedule(250)
    abar = _abar_original()
    assert sched.K == 250 and len(sched.timesteps) == 250
    assert sched.timesteps[0] == 0 and sched.timesteps[-1] == 999
    np.testing.assert_allclose(sched.alphas_bar, abar[list(sched.timesteps)], rtol=1e-12)
    # the respaced betas are OpenAI's (its SpacedDiffusion computes them from the same rule)
    from guided_diffusion.gaussian_diffusion import get_named_beta_schedule
    from guided_diffusion.respace import SpacedDiffusion, space_timesteps as openai_space
    from guided_diffusion import gaussian_diffusion as gd
    ref = SpacedDiffusion(use_timesteps=openai_space(1000, "250"),
                          betas=get_named_beta_schedule("linear", 1000),
                          model_mean_type=gd.ModelMeanType.EPSILON,
                          model_var_type=gd.ModelVarType.LEARNED_RANGE, loss_type=gd.LossType.MSE)
    np.testing.assert_allclose(sched.betas, ref.betas, rtol=1e-12)
    # the recorded step conventions
    assert (sched.t(0), sched.t_over_T(0)) == (0, 0.0)
    assert (sched.t_model(25), sched.t(25), sched.t_over_T(25)) == (96, 97, 0.1)
    assert (sched.t_model(250), sched.t(250), sched.t_over_T(250)) == (999, 1000, 1.0)
    with pytest.raises(ValueError):
        sched.t(251)


# ------------------------------------------------------------------------ one reverse step
class _FixedOutput(nn.Module):
    """A stand-in network: eps and variance values are fixed smooth functions of x and t."""

    learned_variance = True

    def forward(self, x, t):
        eps = torch.sin(3 * x + t.view(-1, 1, 1, 1) / 100.0)
        var_values = torch.tanh(x - 0.3)
        return eps, var_values


@pytest.mark.parametrize("i", [1, 7, 24, 49])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_learned_variance_step_matches_closed_form(i):
    K = 50
    sched = D.respaced_schedule(K)
    scheduler = D.make_scheduler(sched, "learned_range")
    model = _FixedOutput()
    x = _images(3, 8, seed=i) * 1.5
    seeds = [11, 12, 13]
    out = D.reverse_step(model, scheduler, sched, x, i, [torch_generator(s) for s in seeds])

    # DDPM posterior written from the formulas (Ho et al. eq. 7; Nichol & Dhariwal eq. 15),
    # on the original abar at the kept steps, in float64
    abar = _abar_original()
    ts = D.space_timesteps(1000, K)
    a_t, a_prev = abar[ts[i]], abar[ts[i - 1]]
    beta = 1 - a_t / a_prev
    xd = x.double()
    eps, v = (u.double() for u in model(x, torch.full((3,), ts[i])))
    x0 = ((xd - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)).clamp(-1, 1)
    mean = (np.sqrt(a_prev) * beta / (1 - a_t)) * x0 + (np.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t)) * xd
    post_var = beta * (1 - a_prev) / (1 - a_t)
    frac = (v + 1) / 2
    log_var = frac * np.log(beta) + (1 - frac) * np.log(post_var)
    z = torch.cat([torch.randn((1, 3, 8, 8), generator=torch_generator(s)) for s in seeds]).double()
    expected = mean + torch.exp(0.5 * log_var) * z
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=2e-5)

    # and OpenAI's own implementation gives the same mean and variance
    from guided_diffusion import gaussian_diffusion as gd
    from guided_diffusion.respace import SpacedDiffusion

    ref = SpacedDiffusion(use_timesteps=set(ts), betas=gd.get_named_beta_schedule("linear", 1000),
                          model_mean_type=gd.ModelMeanType.EPSILON,
                          model_var_type=gd.ModelVarType.LEARNED_RANGE, loss_type=gd.LossType.MSE)

    def openai_model(xx, tt):
        e, vv = model(xx, tt)
        return torch.cat([e, vv], 1)

    pm = ref.p_mean_variance(openai_model, xd.float(), torch.full((3,), i), clip_denoised=True)
    torch.testing.assert_close(mean.float(), pm["mean"].float(), rtol=0, atol=2e-5)
    torch.testing.assert_close(log_var.float(), pm["log_variance"].float(), rtol=0, atol=2e-4)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_last_step_returns_clipped_x0_prediction():
    sched = D.respaced_schedule(10)
    scheduler = D.make_scheduler(sched, "learned_range")
    model = _FixedOutput()
    x = _images(2, 8) * 2
    out = D.reverse_step(model, scheduler, sched, x, 0, [torch_generator(1), torch_generator(2)])
    a = _abar_original()[0]
    eps, _ = model(x, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(out, ((x - np.sqrt(1 - a) * eps) / np.sqrt(a)).clamp(-1, 1),
                               rtol=0, atol=1e-5)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_closed_form_noising():
    sched = D.respaced_schedule(250)
    scheduler = D.make_scheduler(sched)
    x0 = _images(2, 8)
    xk = D.noise_to_step(scheduler, x0, 100, [torch_generator(5), torch_generator(6)])
    a = _abar_original()[sched.timesteps[99]]
    z = torch.cat([torch.randn((1, 3, 8, 8), generator=torch_generator(s)) for s in (5, 6)])
    torch.testing.assert_close(xk, np.sqrt(a) * x0 + np.sqrt(1 - a) * z, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- forward-backward
def test_forward_backward_adm_shapes_determinism_and_k0(adm):
    x0 = _images(3)
    seeds = [101, 102, 103]
    fb = D.forward_backward(adm, x0, 4, seeds, num_steps=20, batch_size=2, progress=False)
    assert fb.x0_hat.shape == x0.shape and fb.x0_hat.dtype == torch.float32
    assert fb.x0_hat.abs().max() <= 1.0 + 1e-6
    assert fb.record() == {"k": 4, "K": 20, "T": 1000, "t": D.respaced_schedule(20).t(4),
                           "t_model": D.respaced_schedule(20).t_model(4), "t_over_T": 0.2}
    again = D.forward_backward(adm, x0, 4, seeds, num_steps=20, batch_size=2, progress=False)
    assert torch.equal(fb.x0_hat, again.x0_hat)                     # same seeds, same images
    other = D.forward_backward(adm, x0, 4, [7, 8, 9], num_steps=20, batch_size=2, progress=False)
    assert not torch.allclose(fb.x0_hat, other.x0_hat)
    # an image's result depends on its seed only, not on its batch
    alone = D.forward_backward(adm, x0[2:], 4, seeds[2:], num_steps=20, batch_size=1,
                               progress=False)
    torch.testing.assert_close(alone.x0_hat[0], fb.x0_hat[2], rtol=0, atol=1e-5)
    zero = D.forward_backward(adm, x0, 0, seeds, num_steps=20, progress=False)
    assert torch.equal(zero.x0_hat, x0) and zero.t == 0 and zero.t_model is None
    full = D.forward_backward(adm, x0[:1], 20, seeds[:1], num_steps=20, progress=False)
    assert full.t == 1000 and full.t_over_T == 1.0
    with pytest.raises(ValueError, match="seeds"):
        D.forward_backward(adm, x0, 4, seeds[:2], num_steps=20, progress=False)
    with pytest.raises(ValueError, match="outside"):
        D.forward_backward(adm, x0, 21, seeds, num_steps=20, progress=False)


def test_whole_chain_equals_openai_sampler(adm, adm_unet, monkeypatch):
    """forward_backward == OpenAI's q_sample + p_sample loop on the same network and noise."""
    from guided_diffusion import gaussian_diffusion as gd
    from guided_diffusion.respace import SpacedDiffusion

    K, k, seeds = 20, 6, [5, 6]
    x0 = _images(2)
    ours = D.forward_backward(adm, x0, k, seeds, num_steps=K, progress=False).x0_hat

    ref = SpacedDiffusion(use_timesteps=set(D.space_timesteps(1000, K)),
                          betas=gd.get_named_beta_schedule("linear", 1000),
                          model_mean_type=gd.ModelMeanType.EPSILON,
                          model_var_type=gd.ModelVarType.LEARNED_RANGE, loss_type=gd.LossType.MSE)
    gens = [torch_generator(s) for s in seeds]
    draw = lambda x: torch.cat([torch.randn((1, *x.shape[1:]), generator=g) for g in gens])
    x = ref.q_sample(x0, torch.full((2,), k - 1), noise=draw(x0))
    monkeypatch.setattr(gd.th, "randn_like", draw)       # OpenAI's p_sample noise, per image
    with torch.no_grad():
        for i in reversed(range(k)):
            x = ref.p_sample(adm_unet, x, torch.full((2,), i), clip_denoised=True)["sample"]
    torch.testing.assert_close(ours, x, rtol=0, atol=1e-4)


def test_fixed_variance_model_uses_posterior_variance():
    class EpsOnly(nn.Module):
        learned_variance = False

        def forward(self, x, t):
            return torch.zeros_like(x), None

    # eps = 0: x0 prediction is x_t / sqrt(abar); the step adds sqrt(posterior variance) * z
    sched = D.respaced_schedule(10)
    x = _images(1, 4) * 0.5
    scheduler = D.make_scheduler(sched, "fixed_small")
    out = D.reverse_step(EpsOnly(), scheduler, sched, x, 5, [torch_generator(3)])
    abar = _abar_original()
    a_t, a_prev = abar[sched.timesteps[5]], abar[sched.timesteps[4]]
    beta = 1 - a_t / a_prev
    x0 = (x.double() / np.sqrt(a_t)).clamp(-1, 1)
    mean = np.sqrt(a_prev) * beta / (1 - a_t) * x0 + np.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t) * x
    z = torch.randn((1, 3, 4, 4), generator=torch_generator(3))
    expected = mean + np.sqrt(beta * (1 - a_prev) / (1 - a_t)) * z
    torch.testing.assert_close(out.double(), expected.double(), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------ adapters
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_adm_adapter_strict_load_and_outputs(adm, adm_unet, adm_path, tmp_path):
    assert adm.learned_variance and adm.image_size == 16 and adm.channels == 3
    x = _images(2)
    t = torch.tensor([3, 900])
    eps, var_values = adm(x, t)
    assert eps.shape == var_values.shape == (2, 3, 16, 16)
    with torch.no_grad():
        ref = adm_unet(x, t)
    torch.testing.assert_close(torch.cat([eps, var_values], 1), ref, rtol=0, atol=0)
    # strict: a missing key or other flags are refused
    state = torch.load(adm_path, weights_only=True)
    state.pop(next(iter(state)))
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    with pytest.raises(RuntimeError, match="Missing key"):
        M.load_adm(broken, TINY_ADM, device="cpu")
    with pytest.raises(RuntimeError, match="does not match the ADM flags"):
        M.load_adm(adm_path, TINY_ADM, device="cpu", num_channels=64)
    # fp16 (the paper's, via OpenAI's convert_to_fp16) and bf16 torsos run and stay close to fp32
    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        low = M.load_adm(adm_path, TINY_ADM, device="cpu", dtype=name)
        assert low.unet.input_blocks[0][0].weight.dtype == dtype
        assert low.unet.time_embed[0].weight.dtype == torch.float32
        assert low.unet.out[-1].weight.dtype == torch.float32
        eps_low, var_low = low(x, t)
        assert eps_low.dtype == var_low.dtype == torch.float32
        assert (eps_low - eps).abs().max() < 0.05 * eps.abs().max() + 1e-3


def test_adm_paper_flags_build_the_256_model():
    with torch.device("meta"):
        unet = M.build_adm()
    assert sum(p.numel() for p in unet.parameters()) == 552_814_086  # ADM-256 uncond size
    assert unet.out[-1].out_channels == 6 and unet.num_head_channels == 64


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_missing_model_errors_name_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"images\.model\.path.*256x256_diffusion_uncond"):
        M.load_adm(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match=r"images\.model\.path.*UNet2DModel"):
        M.load_diffusers_unet(tmp_path)
    with pytest.raises(ValueError, match="images.model.kind"):
        M.load_model("gan", tmp_path)


@pytest.mark.parametrize("out_channels", [3, 6])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_diffusers_unet_adapter(tmp_path, out_channels):
    from diffusers import UNet2DModel

    torch.manual_seed(1)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=out_channels,
                       block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))
    unet.save_pretrained(tmp_path / "pipe" / "unet")
    model = M.load_model("diffusers", tmp_path / "pipe", device="cpu")   # pipeline layout
    assert model.learned_variance == (out_channels == 6) and model.image_size == 8
    x0 = _images(2, 8)
    fb = D.forward_backward(model, x0, 3, [1, 2], num_steps=10, progress=False)
    again = D.forward_backward(M.load_diffusers_unet(tmp_path / "pipe" / "unet", device="cpu"),
                               x0, 3, [1, 2], num_steps=10, progress=False)
    assert fb.x0_hat.shape == (2, 3, 8, 8) and torch.equal(fb.x0_hat, again.x0_hat)


# ---------------------------------------------------------------------------- classifiers
@pytest.mark.torchvision
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_convnext_base_has_the_papers_41_layers(tmp_path):
    clf = C.build_classifier("convnext_base", None, random_init=True, device="cpu")
    names = clf.layer_names
    assert len(names) == 41
    assert names[0] == "features.0" and names[-1] == "classifier"
    assert [n for n in names if n.count(".") == 1] == ["features.0", "features.2", "features.4",
                                                        "features.6"]
    assert sum(n.count(".") == 2 for n in names) == 3 + 3 + 27 + 3
    logits, feats = clf(_images(2, 64))
    assert logits.shape == (2, 1000) and list(feats) == names
    assert feats["features.0"].shape == (2, 128, 16 * 16)
    assert feats["features.7.2"].shape == (2, 1024, 2 * 2)
    torch.testing.assert_close(feats["classifier"][..., 0], logits)
    # weights from a file, strictly
    path = tmp_path / "convnext.pth"
    torch.save(clf.module.state_dict(), path)
    again = C.build_classifier("convnext_base", path, device="cpu")
    torch.testing.assert_close(again(_images(2, 64))[0], logits)


@pytest.mark.parametrize("name,n_layers,size", [("resnet50", 18, 32), ("vit_b_16", 14, 32)])
@pytest.mark.torchvision
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_other_torchvision_classifiers(name, n_layers, size, tmp_path):
    from torchvision.models.feature_extraction import create_feature_extractor

    clf = C.build_classifier(name, None, random_init=True, device="cpu")
    logits, feats = clf(_images(1, size))
    assert logits.shape == (1, 1000) and len(feats) == len(clf.layer_names) == n_layers
    # the hooks read what torchvision's own feature extractor (torch.fx) reads, exactly
    reference = create_feature_extractor(clf.module, {n: n for n in clf.layer_names})(
        clf.preprocess(_images(1, size)))
    for layer in clf.layer_names:
        torch.testing.assert_close(feats[layer], C.canonical_features(reference[layer]),
                                   rtol=0, atol=0)
    # from a file: built on the meta device, every parameter and buffer taken from the file
    torch.save(clf.module.state_dict(), tmp_path / "weights.pth")
    again = C.build_classifier(name, tmp_path / "weights.pth", device="cpu")
    torch.testing.assert_close(again(_images(1, size))[0], logits, rtol=0, atol=0)


def test_digits_cnn_is_found_through_the_registry(tmp_path):
    assert "digits_cnn" in C.available_classifiers()
    with pytest.raises(FileNotFoundError, match=r"images\.classifier\.weights"):
        C.build_classifier("digits_cnn", tmp_path / "digits_cnn.pt")


@pytest.mark.torchvision
def test_classifier_weight_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"images\.classifier\.weights.*convnext_base"):
        C.build_classifier("convnext_base", tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"images\.classifier\.weights"):
        C.build_classifier("convnext_base", None)
    with pytest.raises(ValueError, match="unknown classifier"):
        C.build_classifier("alexnet", None)
    bad = tmp_path / "bad.pth"
    torch.save({"w": torch.zeros(1)}, bad)
    with pytest.raises(RuntimeError, match="not a state dict"):
        C.build_classifier("resnet50", bad, device="cpu")


def test_torchvision_classifier_without_torchvision_names_the_remedy(monkeypatch, tmp_path):
    """Where torchvision is absent (the CPU-only environment), its classifiers are refused when
    built and when the config is planned, naming the key and the environment that has them;
    digits_cnn is built as before."""
    import importlib.util

    from hierphase.plan import load_plan_files
    from hierphase.plan.checks import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torchvision" else real(name, *a))
    assert C.torchvision_missing("digits_cnn") is None
    with pytest.raises(ImportError, match=r"images\.classifier\.name: 'resnet50'.*HIERPHASE_TORCH=cuda"):
        C.build_classifier("resnet50", None, random_init=True, device="cpu")
    assert C.build_classifier("digits_cnn", None, random_init=True, device="cpu").layer_names
    overlay = tmp_path / "resnet.yaml"
    overlay.write_text("images: {classifier: {name: resnet50}}\n")
    with pytest.raises(ConfigError, match=r"images\.classifier\.name.*no torchvision"):
        load_plan_files(overlay, root=REPO)


class _SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)))


def test_feature_statistics_and_similarity_against_brute_force():
    clf = C.FeatureClassifier(_SmallNet(), ["conv", "pool", "fc"], name="small")
    images = S.to_uint8(_images(10, 6, seed=4))
    stats = C.feature_statistics(clf, images, batch_size=3, progress=False)
    # brute force: run the network by hand on all images at once
    x = S.to_model_scale(images)
    net = clf.module
    conv = net.conv(x)                                           # (10, 4, 6, 6)
    pooled = net.pool(conv)                                      # (10, 16)
    torch.testing.assert_close(stats["mean"]["conv"], conv.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(stats["std"]["conv"], conv.std(dim=(0, 2, 3), unbiased=False))
    torch.testing.assert_close(stats["mean"]["pool"], pooled.mean(0))
    torch.testing.assert_close(stats["std"]["fc"], net.fc(pooled).std(0, unbiased=False))

    noisy = S.to_uint8(_images(10, 6, seed=5))
    la, fa = clf(S.to_model_scale(images))
    lb, fb = clf(S.to_model_scale(noisy))
    sims = C.layer_similarity(fa, fb, stats)
    z = lambda f, layer: (f - stats["mean"][layer].view(1, -1, 1)) / stats["std"][layer].view(1, -1, 1)
    for layer in clf.layer_names:
        a, b = z(fa[layer], layer).flatten(1), z(fb[layer], layer).flatten(1)
        manual = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
        torch.testing.assert_close(sims[layer], manual, rtol=1e-5, atol=1e-6)
    self_sims = C.layer_similarity(fa, fa, stats)
    for layer in clf.layer_names:
        torch.testing.assert_close(self_sims[layer], torch.ones(10))
    kept = C.class_kept(la, lb)
    assert torch.equal(kept, la.argmax(1) == lb.argmax(1))
    m = C.measure(clf, images, noisy, stats, batch_size=4, progress=False)
    assert torch.equal(m["kept"], kept) and m["similarity"].shape == (10, 3)
    torch.testing.assert_close(m["similarity"][:, 1], sims["pool"])


def test_standardise_drops_constant_channels():
    f = torch.tensor([[[1.0, 2.0], [5.0, 7.0]]])                  # (1, 2 channels, 2)
    out = C.standardise(f, torch.tensor([1.0, 5.0]), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(out, torch.tensor([[[0.0, 1.0], [0.0, 0.0]]]))


def test_plain_module_gets_inputs_as_they_are():
    class Probe(nn.Module):  # an identity layer, then a sum: its outputs show its input
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            with torch.no_grad():
                self.lin.weight.copy_(torch.eye(2))
                self.lin.bias.zero_()

        def forward(self, x):
            return self.lin(x.flatten(1)[:, :2]).sum(1, keepdim=True)

    clf = C.FeatureClassifier(Probe(), ["lin"])
    x = torch.tensor([[[[-1.0, 1.0]]]])
    logits, feats = clf(x)
    assert torch.equal(feats["lin"], x.reshape(1, 2, 1)) and torch.equal(logits, torch.zeros(1, 1))


# ------------------------------------------------------------------------------- ImageNet
def _jpeg(path, w, h, colour):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), colour).save(path, quality=95)


@pytest.fixture()
def val_folder(tmp_path):
    """12 generated JPEGs named as in ILSVRC2012, 3 classes of 4, and the devkit labels file."""
    root = tmp_path / "val"
    labels = []
    for i in range(12):
        label = [7, 3, 9][i % 3]
        _jpeg(root / f"ILSVRC2012_val_{i + 1:08d}.JPEG", 20 + 3 * i, 24 + (5 * i) % 17,
              (20 * label, 100, 255 - 20 * label))
        labels.append(label)
    gt = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    gt.write_text("".join(f"{v}\n" for v in labels))
    return root, gt, labels


def test_imagenet_devkit_labels_selection_and_shards(val_folder, tmp_path):
    root, gt, labels = val_folder
    outs = [tmp_path / "shards" / f"shard_{j}.pt" for j in range(2)]
    sizes = I.prepare_imagenet(root, gt, outs, n_per_class=2, size=16, seed=0, progress=False)
    assert sizes == [3, 3]
    shards = [S.read_shard(p) for p in outs]
    images = torch.cat([s["images"] for s in shards])
    got_labels = torch.cat([s["labels"] for s in shards]).tolist()
    names = sum((s["names"] for s in shards), [])
    assert images.shape == (6, 3, 16, 16) and images.dtype == torch.uint8
    assert got_labels == [3, 7, 9, 3, 7, 9]                       # classes interleaved
    for name, label in zip(names, got_labels):
        assert labels[int(name[15:23]) - 1] == label                # the devkit's line order
    # deterministic; another seed picks other images
    again = I.select_per_class(I.index_imagenet(root, gt), 2, seed=0)
    assert [I.index_imagenet(root, gt).names[p] for p in again] == names
    picks = {tuple(I.select_per_class(I.index_imagenet(root, gt), 2, seed=s)) for s in range(6)}
    assert len(picks) > 1
    # a plain-colour JPEG stays that colour after resize and crop
    first = S.read_shard(outs[0])["images"][0].float()
    assert (first.std(dim=(1, 2)) < 3).all()
    one_class = I.select_per_class(I.index_imagenet(root, gt), 1, seed=0, n_classes=2)
    assert len(one_class) == 2


def test_imagenet_csv_and_class_folders(tmp_path):
    root = tmp_path / "val"
    rows = ["filename,label"]
    for i, wnid in enumerate(["n02", "n01", "n02", "n01"]):
        _jpeg(root / wnid / f"img{i}.jpg", 30, 20, (10, 20, 30))
        rows.append(f"{wnid}/img{i}.jpg,{wnid}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    by_csv = I.index_imagenet(root, tmp_path / "labels.csv")
    by_dirs = I.index_imagenet(root, None)
    assert by_csv == by_dirs
    assert by_csv.classes == ("n01", "n02") and sorted(by_csv.labels) == [0, 0, 1, 1]
    ints = tmp_path / "ints.csv"
    ints.write_text("filename,label\nn01/img1.jpg,5\nn02/img0.jpg,2\n")
    idx = I.index_imagenet(root, ints)
    assert idx.classes is None and idx.labels == (5, 2)


def test_center_crop_takes_the_middle():
    from PIL import Image

    # 64 x 16 image: left and right quarters red, middle half blue. The short side (16) is the
    # target, so no resize; the crop is the middle 16 columns: all blue.
    arr = np.zeros((16, 64, 3), dtype=np.uint8)
    arr[:, :16] = arr[:, 48:] = (255, 0, 0)
    arr[:, 16:48] = (0, 0, 255)
    out = I.center_crop(Image.fromarray(arr), 16)
    assert out.shape == (16, 16, 3) and (out == (0, 0, 255)).all()
    # 128 x 32 is box-halved to 64 x 16 first, then the same
    big = np.repeat(np.repeat(arr, 2, axis=0), 2, axis=1)
    assert (I.center_crop(Image.fromarray(big), 16) == (0, 0, 255)).all()
    # a portrait image: the short side is the width
    tall = I.center_crop(Image.fromarray(arr.transpose(1, 0, 2).copy()), 8)
    assert tall.shape == (8, 8, 3) and (tall == (0, 0, 255)).all()


def test_imagenet_errors_name_the_keys(val_folder, tmp_path):
    root, gt, _ = val_folder
    with pytest.raises(FileNotFoundError, match=r"images\.data\.imagenet\.val_dir.*ILSVRC2012_img_val"):
        I.index_imagenet(tmp_path / "nowhere", gt)
    with pytest.raises(FileNotFoundError,
                       match=r"images\.data\.imagenet\.labels.*ILSVRC2012_validation_ground_truth"):
        I.index_imagenet(root, tmp_path / "gt.txt")
    with pytest.raises(FileNotFoundError, match=r"images\.data\.imagenet\.labels"):
        I.index_imagenet(root, None)                                 # flat folder, no labels
    bad = tmp_path / "bad.csv"
    bad.write_text("image,class\nx.jpg,1\n")
    with pytest.raises(ValueError, match="filename,label"):
        I.index_imagenet(root, bad)
    listed = tmp_path / "listed.csv"
    listed.write_text("filename,label\nmissing.JPEG,1\n")
    with pytest.raises(FileNotFoundError, match="not in"):
        I.index_imagenet(root, listed)
    with pytest.raises(ValueError, match="fewer than n_per_class"):
        I.select_per_class(I.index_imagenet(root, gt), 5, seed=0)


def test_shard_round_trip_and_scales(tmp_path):
    x = _images(4, 8)
    u = S.to_uint8(x)
    assert (S.to_model_scale(u) - x).abs().max() <= 1 / 127.5 + 1e-6
    S.write_shard(tmp_path / "s.pt", u, [1, 2, 3, 4], ["a", "b", "c", "d"])
    back = S.read_shard(tmp_path / "s.pt")
    assert torch.equal(back["images"], u) and back["names"] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="uint8"):
        S.write_shard(tmp_path / "t.pt", x, [1, 2, 3, 4], list("abcd"))


# ---------------------------------------------------------------------------- benchmark
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_trajectory_benchmark_runs_on_cpu(tmp_path):
    """benchmarks/bench_trajectories.py (the GPU benchmark) with a tiny random ADM on the CPU:
    every (dtype, batch) point measured, trajectories/s = engine image-steps/s over K."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trajectories.py"
    spec = importlib.util.spec_from_file_location("bench_trajectories", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    rows = bench.main(["--image-size", "16", "--batch", "1", "3", "--dtype", "float32",
                       "bfloat16", "--num-steps", "8", "--time-steps", "2", "--device", "cpu",
                       "--out", str(out)])
    assert [(r["dtype"], r["batch"]) for r in rows] == [("float32", 1), ("float32", 3),
                                                        ("bfloat16", 1), ("bfloat16", 3)]
    for r in rows:
        assert r["network_image_steps_per_s"] > 0 and r["engine_image_steps_per_s"] > 0
        assert r["trajectories_per_s"] == pytest.approx(r["engine_image_steps_per_s"] / 8)
    assert json.loads(out.read_text())["rows"] == rows
