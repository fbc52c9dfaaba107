"""Peak-memory estimates that the planning checks compare with ``max_mem_mb`` before a job
runs: arithmetic on the sizes a config names, free of torch, diffusers and pandas, so that
planning stays light. Each is measured against the real run (within a factor 2) in
``tests/test_hostile_memory.py``; the parameter counts equal the built models' counts exactly
(``tests/test_memory.py``)."""

from __future__ import annotations

import math

from hierphase.checks import check_int

__all__ = ["MIB", "LIBRARIES_MB", "job_mb", "tree_nodes", "trees_bytes", "bp_sweep_bytes",
           "bp_reference_bytes",
           "bp_trajectories_bytes", "TRAJECTORY_PROCESSES", "gaussian_field_bytes",
           "FLAT_MIXTURE_RUN_BLOCKS", "flat_mixture_bytes", "tree_unet_parameter_count", "tree_unet_training_bytes", "tree_unet_sweep_bytes", "tree_unet_generation_bytes",
           "tree_unet_correlation_bytes",
           "unet_parameter_count", "ddpm_train_bytes", "ddpm_sweep_bytes", "digits_cnn_parameter_count",
           "classifier_train_bytes", "TORCHVISION_PARAMETERS", "CUDA_HOST_BYTES",
           "DECODED_IMAGE_BYTES", "classifier_layer_floats", "classifier_parameter_count",
           "classifier_transient_floats", "classifier_batch_bytes", "classifier_stats_bytes",
           "classifier_measure_bytes", "clip_sizes", "clip_batch_bytes", "unet_skip_floats",
           "unet_forward_floats", "adm_shape", "diffusers_shape", "pretrained_sweep_bytes",
           "imagenet_data_bytes", "image_runs", "image_correlation_bytes", "digits_data_bytes",
           "weight_files_bytes", "pixel_embedding", "classifier_embedding", "clip_embedding",
           "image_quality_bytes", "mdlm_parameter_count", "mdlm_training_bytes",
           "mdlm_sampling_bytes", "ngram_bytes"]

MIB = 2**20
#: What a job's interpreter and libraries (torch, numba, pandas) take before any array: the MB
#: every job's ``mem_mb`` adds to its computation's estimate.
LIBRARIES_MB = 1000


def job_mb(*estimates: int) -> int:
    """A job's ``mem_mb``: the libraries plus the byte estimates of what it holds at once."""
    return LIBRARIES_MB + sum(int(b) for b in estimates) // MIB


# ----------------------------------------------------------------------------- RHM, exact BP
def tree_nodes(s: int, L: int) -> int:
    """Nodes of a tree of branching ``s`` and depth ``L``, root and leaves included."""
    s, L = check_int(s, "s", 2), check_int(L, "L", 1)
    return (s ** (L + 1) - 1) // (s - 1)


def trees_bytes(s: int, L: int, n: int) -> int:
    """Peak memory of :func:`hierphase.rhm.sample_trees` for ``n`` trees, in bytes: every level's
    int64 tensor plus two temporaries of the size of the last level (the rule draws and the
    gathered tuples); an upper bound of the trees a job loads from ``trees.pt``."""
    n = check_int(n, "n", 0)
    return 8 * n * (tree_nodes(s, L) + 2 * s ** L)


def bp_sweep_bytes(v: int, s: int, L: int, batch_size: int) -> int:
    """Peak memory in bytes of a forward-backward sweep in batches of ``batch_size`` data
    (``hierphase.stages.rhm.sweep_shard``, the numba backend): per datum its float64 evidence
    ``(s^L, v)`` and about seven 8-byte values per tree node (messages, true probabilities, the
    sample, the per-level outputs)."""
    v, batch_size = check_int(v, "v", 2), check_int(batch_size, "batch_size", 1)
    return 8 * batch_size * (s ** L * v + 7 * tree_nodes(s, L))


def bp_reference_bytes(v: int, s: int, L: int, n: int) -> int:
    """Peak memory in bytes of exact BP's kept table of ``n`` data at once
    (:func:`hierphase.learned.evaluate.bp_kept_table`, one noise level at a time): per datum the
    evidence and its copy (float64 ``(s^L, v)`` twice), the marginals and messages of every node
    (``v`` float64 each, twice) and about eight 8-byte values per node (trees, samples, the true
    latents' probabilities)."""
    v, n = check_int(v, "v", 2), check_int(n, "n", 1)
    nodes = tree_nodes(s, L)
    return 8 * n * (2 * v * (nodes + s ** L) + 8 * nodes)


#: Float64 evidence-sized arrays per run and 8-byte values per node per run of
#: :func:`bp_trajectories_bytes`, by process (the epsilon-process shares one evidence row).
TRAJECTORY_PROCESSES = {"epsilon": (0.0, 5), "gaussian": (3.5, 10), "masking": (1.5, 10),
                        "uniform": (1.5, 10)}


def bp_trajectories_bytes(v: int, s: int, L: int, n_traj: int, process: str) -> int:
    """Peak memory in bytes of the change correlations of one datum with ``n_traj``
    forward-backward runs (``hierphase.stages.rhm.correlation_shard``, per noise value and x0):
    the runs' evidence (the Gaussian process also holds its noisy one-hot states and a copy; the
    epsilon-process one row for all) and their sampled trees, change spins and pair sums."""
    v, n_traj = check_int(v, "v", 2), check_int(n_traj, "n_traj", 1)
    if process not in TRAJECTORY_PROCESSES:
        raise ValueError(f"process must be one of {sorted(TRAJECTORY_PROCESSES)}, got {process!r}")
    per_evidence, per_node = TRAJECTORY_PROCESSES[process]
    return int(8 * n_traj * (per_evidence * s ** L * v + per_node * tree_nodes(s, L)))


# ----------------------------------------------------------------------------- controls


def gaussian_field_bytes(shape, n_x0: int, n_traj: int) -> int:
    """Peak memory in bytes of the change correlations of ``n_x0`` Gaussian fields of ``shape``
    with ``n_traj`` forward-backward runs each (``hierphase.stages.rhm.gaussian_field_shard``):
    the fields, then per field about eleven float64 arrays of its runs (forward noise, noisy
    fields, posterior noise, their spectra and products, the changes and their centred copy and
    spectrum) and sixteen of one field (spectrum, gains, the distance-bin index)."""
    sites = math.prod(check_int(n, "shape", 1) for n in shape)
    return 8 * sites * (check_int(n_x0, "n_x0", 1) + 11 * check_int(n_traj, "n_traj", 1) + 16)


#: Evidence-sized ``(d, v)`` float64 blocks per run and token that glibc's heap may keep of a
#: flat-mixture shard's freed temporaries, by process: how much it keeps varies between identical
#: runs (the Gaussian case of ``tests/test_hostile_memory.py`` peaked at 10 MB, 330 MB and 734 MB
#: for a 10 MB working set), so this is an allowance above the largest seen, not a measurement.
FLAT_MIXTURE_RUN_BLOCKS = {"epsilon": 2.0, "gaussian": 24.0, "masking": 1.0, "uniform": 24.0}


def flat_mixture_bytes(v: int, n_classes: int, d: int, n_traj: int, process: str,
                       retained: bool = True) -> int:
    """Peak memory in bytes of a flat-mixture control shard of ``process``
    (``hierphase.stages.rhm.flat_mixture_shard``, per noise value and datum): the class
    likelihood's float64 ``(d, n_classes, v)`` intermediate and its log-sum-exp temporary (one
    datum's row at a time), a few ``(d, v)`` arrays of evidence and Gumbel noise, and per run and
    token the drawn tokens, their stack, the change spins, the centred changes and their spectrum
    (about six 8-byte values): the working set; with ``retained`` (what a job declares) plus
    the heap the allocator may keep of the runs' freed temporaries
    (:data:`FLAT_MIXTURE_RUN_BLOCKS` values of ``v`` per run and token)."""
    v, n_classes = check_int(v, "v", 2), check_int(n_classes, "n_classes", 2)
    d, n_traj = check_int(d, "d", 1), check_int(n_traj, "n_traj", 1)
    if process not in FLAT_MIXTURE_RUN_BLOCKS:
        raise ValueError(f"process must be one of {sorted(FLAT_MIXTURE_RUN_BLOCKS)}, "
                         f"got {process!r}")
    per_token = 6 + (FLAT_MIXTURE_RUN_BLOCKS[process] * v if retained else 0)
    return int(8 * (2 * d * n_classes * v + 6 * d * v + per_token * n_traj * d))


def random_code_bytes(n_codes: int, d: int, n_traj: int) -> int:
    """Peak memory in bytes of one random code's correlations
    (``hierphase.controls.random_code_correlations``, one datum at a time): the int64 codewords
    ``(n_codes, d)``, the gathered float64 log-evidence of every codeword ``(n_codes, d)`` and its
    sum, the posterior and one Gumbel draw per run over the codewords, and per run and token the
    drawn codeword, its change spins and their pair sums (about eight 8-byte values)."""
    n_codes, d = check_int(n_codes, "n_codes", 2), check_int(d, "d", 1)
    n_traj = check_int(n_traj, "n_traj", 1)
    return int(8 * (3 * n_codes * d + 4 * n_codes + 8 * n_traj * d))


# ----------------------------------------------------------------------------- learned denoisers
def tree_unet_parameter_count(in_channels: int, vocab: int, s: int, L: int, width: int,
                              blocks: int, expansion: int) -> int:
    """Parameters of :class:`hierphase.learned.networks.TreeUNet`: the time MLP and the input
    embedding, ``blocks`` FiLM residual blocks at each of the ``2 L + 1`` stages, ``L`` down,
    up and merge projections, the output norm and map."""
    w = check_int(width, "width", 1)
    s, L = check_int(s, "s", 2), check_int(L, "L", 1)
    e, blocks = check_int(expansion, "expansion", 1), check_int(blocks, "blocks", 0)
    resblock = 2 * w + _linear(w, 2 * w) + _linear(w, e * w) + _linear(e * w, w)
    per_level = _linear(s * w, w) + _linear(w, s * w) + _linear(2 * w, w)
    return (2 * _linear(w, w) + _linear(check_int(in_channels, "in_channels", 1), w)
            + (2 * L + 1) * blocks * resblock + L * per_level + 2 * w
            + _linear(w, check_int(vocab, "vocab", 2)))


def tree_unet_training_bytes(in_channels: int, vocab: int, s: int, L: int, width: int,
                             blocks: int, expansion: int, batch_size: int) -> int:
    """Peak memory in bytes of :func:`hierphase.learned.train.train` of a tree U-Net on batches of
    ``batch_size`` (float32 on CPU): its parameters four times (weights, gradients, AdamW's two
    moments) and the activations the backward pass keeps, per datum and tree node of the encoder
    and the decoder (``2 d s/(s-1)`` positions) ``blocks * (6 + 2 expansion) + 6`` maps of
    ``width`` (each residual block's norm, FiLM, both linears and activation; the level's
    convolution and merge), plus six copies of the input and the logits (noising, loss and their
    gradients)."""
    params = tree_unet_parameter_count(in_channels, vocab, s, L, width, blocks, expansion)
    batch_size = check_int(batch_size, "batch_size", 1)
    d = s ** L
    positions = 2 * d * s / (s - 1)
    maps = blocks * (6 + 2 * expansion) + 6
    return int(4 * batch_size * positions * width * maps + 16 * params
               + 4 * batch_size * d * (in_channels + vocab) * 6)


def _tree_unet_batch_bytes(v: int, s: int, L: int, width: int, expansion: int,
                           batch: int) -> int:
    """A tree U-Net's forward pass on ``batch`` data without gradients: per datum the skips the
    down path holds (``width`` per node above the leaves and at them, ``d s / (s - 1)``
    positions) and, at the leaves, a residual block's transients (its input, norm and output,
    the expanded layer and its activation: ``2 + 2 expansion`` maps of ``width``), its input
    and probabilities (six ``v + 1`` channel maps), float32."""
    width, expansion = check_int(width, "width", 1), check_int(expansion, "expansion", 1)
    v, d = check_int(v, "v", 2), s ** L
    maps = width * d * (s / (s - 1) + 2 + 2 * expansion)
    return int(4 * batch * (maps + 6 * d * (v + 1)))


def tree_unet_sweep_bytes(v: int, s: int, L: int, width: int, expansion: int, n: int,
                          batch_size: int) -> int:
    """Peak memory in bytes of a learned model's forward-backward sweep of ``n`` test data
    (:func:`hierphase.learned.evaluate.learned_kept_table`, one noise level at a time, no
    gradients): the test trees, their noisy state and the leaf probabilities (float64 and float32
    ``(n, v, d)``), the samples parsed into latents (a few int64 values per node), and one
    sampling batch through the network (``_tree_unet_batch_bytes``)."""
    n, batch_size = check_int(n, "n", 1), check_int(batch_size, "batch_size", 1)
    v, d, nodes = check_int(v, "v", 2), s ** L, tree_nodes(s, L)
    batch = _tree_unet_batch_bytes(v, s, L, width, expansion, min(batch_size, n))
    return int(trees_bytes(s, L, n) + 12 * n * v * d + 24 * n * nodes + batch)


def tree_unet_generation_bytes(v: int, s: int, L: int, width: int, expansion: int, n: int,
                               batch_size: int, P: int) -> int:
    """Peak memory in bytes of ``n`` new data drawn from a learned model and evaluated
    (:func:`hierphase.learned.evaluate.generation_tables`, a generation or learning-curve job):
    the ``P`` training trees drawn again and their rows' keys (the memorisation check), the
    prior state (float32 ``(n, v + 1, d)``), the samples and their parse (an int64 per node),
    and one sampling batch through the network (``_tree_unet_batch_bytes``)."""
    n, batch_size = check_int(n, "n", 1), check_int(batch_size, "batch_size", 1)
    v, d, nodes, P = check_int(v, "v", 2), s ** L, tree_nodes(s, L), check_int(P, "P", 1)
    batch = _tree_unet_batch_bytes(v, s, L, width, expansion, min(batch_size, n))
    return int(trees_bytes(s, L, P) + P * (4 * d + 100) + n * (4 * (v + 1) * d + 8 * nodes)
               + batch)


def tree_unet_correlation_bytes(v: int, s: int, L: int, width: int, expansion: int, n_x0: int,
                                n_traj: int, batch_size: int, process: str) -> int:
    """Peak memory in bytes of a learned model's change correlations
    (:func:`hierphase.learned.evaluate.learned_correlation_tables`, one noise level at a time):
    the ``n_x0`` test trees, and per run (``n_x0 * n_traj``) its noisy state (float64 ``(v, d)``
    for the Gaussian process, one int64 per leaf otherwise), its repeated leaves and its sample
    parsed into latents (about three int64 values per node), and one sampling batch through the
    network (``_tree_unet_batch_bytes``)."""
    n_x0, n_traj = check_int(n_x0, "n_x0", 1), check_int(n_traj, "n_traj", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    v, d, nodes = check_int(v, "v", 2), s ** L, tree_nodes(s, L)
    runs = n_x0 * n_traj
    state = 8 * v * d if process == "gaussian" else 8 * d
    batch = _tree_unet_batch_bytes(v, s, L, width, expansion, min(batch_size, runs))
    return int(trees_bytes(s, L, n_x0) + runs * (state + 8 * d + 24 * nodes) + batch)


# ----------------------------------------------------------------------------- images
def _conv(c_in: int, c_out: int, k: int = 3) -> int:
    return c_in * c_out * k * k + c_out


def _linear(c_in: int, c_out: int) -> int:
    return c_in * c_out + c_out


def _resnet(c_in: int, c_out: int, temb: int) -> int:
    """diffusers' ``ResnetBlock2D``: two group norms, two 3x3 convolutions, the time-embedding
    projection and a 1x1 shortcut when the widths differ."""
    shortcut = _conv(c_in, c_out, 1) if c_in != c_out else 0
    return 2 * c_in + _conv(c_in, c_out) + _linear(temb, c_out) + 2 * c_out + _conv(c_out, c_out) \
        + shortcut


def _attention(c: int) -> int:
    """diffusers' ``Attention`` in a UNet block: a group norm, q, k, v and the output map."""
    return 2 * c + 4 * _linear(c, c)


def unet_parameter_count(channels: int, block_out_channels, layers_per_block: int,
                         attention: bool) -> int:
    """Parameters of :func:`hierphase.images.ddpm_training.build_digits_unet`'s ``UNet2DModel``
    (``channels`` in and out; self attention in the coarsest down and up blocks when
    ``attention``; the middle block always has one), counted block by block."""
    widths = [check_int(c, "block_out_channels", 1) for c in block_out_channels]
    layers = check_int(layers_per_block, "layers_per_block", 1)
    channels = check_int(channels, "channels", 1)
    n, temb = len(widths), 4 * widths[0]
    total = _linear(widths[0], temb) + _linear(temb, temb) + _conv(channels, widths[0])
    c_in = widths[0]
    for i, c in enumerate(widths):  # down: resnets, attention at the last, downsample but last
        for j in range(layers):
            total += _resnet(c_in if j == 0 else c, c, temb)
            total += _attention(c) if attention and i == n - 1 else 0
        total += _conv(c, c) if i < n - 1 else 0
        c_in = c
    total += 2 * _resnet(widths[-1], widths[-1], temb) + _attention(widths[-1])  # middle
    up = widths[::-1]
    prev = up[0]
    for i, c in enumerate(up):  # up: layers + 1 resnets over the concatenated skips
        skip_in = up[min(i + 1, n - 1)]
        for j in range(layers + 1):
            skip = skip_in if j == layers else c
            total += _resnet((prev if j == 0 else c) + skip, c, temb)
            total += _attention(c) if attention and i == 0 else 0
        total += _conv(c, c) if i < n - 1 else 0
        prev = c
    return total + 2 * widths[0] + _conv(widths[0], channels)


def ddpm_train_bytes(image_size: int, channels: int, batch_size: int, cfg) -> int:
    """Peak memory of :func:`hierphase.images.ddpm_training.train_digits_ddpm` in bytes (an
    upper estimate) for ``cfg`` (a ``DDPMTrainConfig``): the weights seven times over (model,
    EMA, gradients, AdamW's two moments, the optimizer's and the autograd's temporaries), and the
    activations the backward pass keeps, about 28 float32 maps of every level's width per image
    (two convolutions of each of ``layers_per_block + 1`` ResNet blocks down and up, norms and
    activations), plus the attention maps at the coarsest level."""
    image_size, channels = check_int(image_size, "image_size", 1), check_int(channels, "channels", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    params = unet_parameter_count(channels, cfg.block_out_channels, cfg.layers_per_block,
                                  cfg.attention)
    acts, side = 0, image_size
    for width in cfg.block_out_channels:
        acts += 14 * (cfg.layers_per_block + 1) * width * side * side
        side = max(1, side // 2)
    side = max(1, image_size // 2 ** (len(cfg.block_out_channels) - 1))
    attention = 3 * (side * side) ** 2 if cfg.attention else 0
    return 4 * (7 * params + 2 * batch_size * (acts + attention + 4 * channels * image_size ** 2))


def ddpm_sweep_bytes(image_size: int, channels: int, batch_size: int, n_images: int, cfg) -> int:
    """Peak memory in bytes of a forward-backward sweep of ``n_images`` images (one shard) in
    batches of ``batch_size`` with the UNet of ``cfg`` (a ``DDPMTrainConfig``;
    :func:`hierphase.stages.images.sweep_shard`, no gradients): the weights, per image of a batch
    the down path's outputs the up path reads back (``layers_per_block + 1`` maps of every
    level's width), eight maps of the first width at full resolution (the up path's
    concatenations, a ResNet block's norm, activation and convolutions) and the attention scores
    at the coarsest level, and the shard's images as uint8 and as float32 three times (the input,
    the batches' outputs and their concatenation)."""
    image_size, channels = check_int(image_size, "image_size", 1), check_int(channels, "channels", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    n_images = check_int(n_images, "n_images", 1)
    widths = cfg.block_out_channels
    params = unet_parameter_count(channels, widths, cfg.layers_per_block, cfg.attention)
    coarse = max(1, image_size // 2 ** (len(widths) - 1))
    per_image = unet_skip_floats(image_size, widths, cfg.layers_per_block) \
        + 8 * widths[0] * image_size ** 2 + 2 * coarse ** 4
    pixels = channels * image_size ** 2
    return 4 * params + 4 * min(batch_size, n_images) * per_image + 13 * n_images * pixels


def digits_cnn_parameter_count(channels: int, width: int, n_classes: int = 10) -> int:
    """Parameters of :class:`hierphase.images.digits_cnn.DigitsCNN`: five 3x3 convolutions over
    widths w, 2w, 4w, three batch norms, the hidden dense layer and the classifier."""
    w, channels = check_int(width, "width", 1), check_int(channels, "channels", 1)
    convs = _conv(channels, w) + _conv(w, w) + _conv(w, 2 * w) + _conv(2 * w, 2 * w) \
        + _conv(2 * w, 4 * w) + _conv(4 * w, 4 * w)
    norms = 2 * (w + 2 * w + 4 * w)
    return convs + norms + _linear(4 * w, 4 * w) + _linear(4 * w, check_int(n_classes, "n_classes", 1))


def classifier_train_bytes(image_size: int, channels: int, batch_size: int, cfg) -> int:
    """Peak memory of :func:`hierphase.images.digits_cnn.train_digits_classifier` in bytes (an
    upper estimate) for ``cfg`` (a ``ClassifierTrainConfig``): weights, gradients and AdamW's
    moments, and per image of a batch the float32 maps the backward pass keeps (about 4 per layer
    at full resolution: conv, norm, activation, the shift's gather; a quarter and a sixteenth of
    that below), plus the held-out evaluation's batches of 512."""
    image_size, channels = check_int(image_size, "image_size", 1), check_int(channels, "channels", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    w = cfg.width
    params = digits_cnn_parameter_count(channels, w)
    pixels = image_size * image_size
    per_image = 4 * pixels * (2 * w + w + 2 * w / 4 * 2 + 4 * w / 16 * 2) + 4 * pixels * channels
    return int(4 * 4 * params + (batch_size + 512) * per_image)


# ------------------------------------------------------------------- classifiers and embeddings
#: Parameters of the torchvision ImageNet classifiers (``tests/test_memory.py`` counts the built
#: models): the weights a job holds is four bytes each.
TORCHVISION_PARAMETERS = {"convnext_base": 88_591_464, "resnet50": 25_557_032,
                          "vit_b_16": 86_567_656}
#: What a job on a GPU keeps in host memory for the CUDA libraries and context, beside the
#: libraries of :data:`LIBRARIES_MB` (an allowance: the batches' activations live on the GPU).
CUDA_HOST_BYTES = 2000 * MIB
#: A decoded source image of the ImageNet validation set (the largest are a few megapixels, RGB,
#: decoded, converted and cropped: a few copies).
DECODED_IMAGE_BYTES = 64 * MIB


def _side(size: int, stride: int) -> int:
    """Side of a feature map ``stride`` times coarser than ``size`` (rounded up: every padded
    strided convolution of these models)."""
    return -(-size // stride)


def classifier_layer_floats(name: str, image_size: int, width: int = 32) -> dict[str, int]:
    """Floats per image of the output of every layer :class:`FeatureClassifier` hooks for the
    registered classifier ``name`` (``hierphase.images.classifiers``; the layer names in its
    order) at ``image_size`` (``width``: ``digits_cnn``'s). ViT-B/16 resizes to 224 first."""
    s = check_int(image_size, "image_size", 1)
    if name == "vit_b_16":
        return {"conv_proj": 768 * 14 * 14,
                **{f"encoder.layers.encoder_layer_{i}": 197 * 768 for i in range(12)},
                "heads": 1000}
    if name == "digits_cnn":
        w = check_int(width, "width", 1)
        maps = [("stem", w, 1), ("block1", w, 1), ("down1", 2 * w, 2), ("block2", 2 * w, 2),
                ("down2", 4 * w, 4), ("block3", 4 * w, 4)]
        tail = {"pool": 4 * w, "fc": 4 * w, "classifier": 10}
    elif name == "convnext_base":
        maps, index = [], 0
        for stage, (dim, depth) in enumerate(zip((128, 256, 512, 1024), (3, 3, 27, 3))):
            stride = 4 * 2 ** stage
            maps.append((f"features.{index}", dim, stride))  # the stem or a downsampling layer
            maps += [(f"features.{index + 1}.{j}", dim, stride) for j in range(depth)]
            index += 2
        tail = {"classifier": 1000}
    elif name == "resnet50":
        maps = [("maxpool", 64, 4)] + [
            (f"layer{i + 1}.{j}", 256 * 2 ** i, 4 * 2 ** i) for i, depth in enumerate((3, 4, 6, 3))
            for j in range(depth)]
        tail = {"fc": 1000}
    else:
        raise ValueError(f"no memory model of classifier {name!r}")
    return {layer: c * _side(s, stride) ** 2 for layer, c, stride in maps} | tail


def classifier_parameter_count(name: str, channels: int = 1, width: int = 32) -> int:
    """Parameters of the registered classifier ``name``."""
    if name == "digits_cnn":
        return digits_cnn_parameter_count(channels, width)
    if name not in TORCHVISION_PARAMETERS:
        raise ValueError(f"no memory model of classifier {name!r}")
    return TORCHVISION_PARAMETERS[name]


def classifier_transient_floats(name: str, image_size: int, channels: int,
                                width: int = 32) -> int:
    """Floats per image a forward holds besides the hooked outputs: the input and its
    normalised copy, and the largest block's intermediate maps (``digits_cnn``: a convolution's
    and its norm's output at full resolution; ConvNeXt: a first-stage block's depthwise output,
    norm, fourfold expansion and GELU; ResNet-50: the stem at half resolution or a first-stage
    bottleneck; ViT-B/16: the 224 px input, q/k/v, the attention scores of 12 heads and the MLP's
    3072 features of 197 tokens)."""
    s = check_int(image_size, "image_size", 1)
    inputs = 2 * check_int(channels, "channels", 1) * s * s
    if name == "digits_cnn":
        return inputs + 2 * check_int(width, "width", 1) * s * s
    if name == "convnext_base":
        return inputs + 11 * 128 * _side(s, 4) ** 2
    if name == "resnet50":
        return inputs + max(2 * 64 * _side(s, 2) ** 2, 5 * 256 * _side(s, 4) ** 2)
    if name == "vit_b_16":
        return inputs + 2 * 3 * 224 ** 2 + 197 * (6 * 768 + 2 * 3072) + 2 * 12 * 197 ** 2
    raise ValueError(f"no memory model of classifier {name!r}")


def classifier_batch_bytes(name: str, image_size: int, channels: int, batch_size: int,
                           width: int = 32, passes: int = 1) -> int:
    """A batch of ``batch_size`` images through the classifier, ``passes`` forwards whose
    hooked outputs are held together (2 for a measurement's clean and swept images), float32."""
    floats = classifier_layer_floats(name, image_size, width)
    per_image = passes * sum(floats.values()) \
        + classifier_transient_floats(name, image_size, channels, width)
    return 4 * check_int(batch_size, "batch_size", 1) * per_image


def classifier_stats_bytes(name: str, image_size: int, channels: int, batch_size: int,
                           n_images: int, width: int = 32, on_gpu: bool = False) -> int:
    """Peak memory in bytes of :func:`hierphase.stages.images.classifier_statistics`: the
    weights, every clean image as uint8 twice (the shards and their concatenation), and per
    batch (``on_gpu``: on the GPU, else here) the forward and one layer's float64 copy and
    square."""
    n = check_int(n_images, "n_images", 1)
    b = min(check_int(batch_size, "batch_size", 1), n)
    held = 4 * classifier_parameter_count(name, channels, width) \
        + 2 * n * channels * image_size ** 2
    if on_gpu:
        return held + CUDA_HOST_BYTES
    largest = max(classifier_layer_floats(name, image_size, width).values())
    return held + classifier_batch_bytes(name, image_size, channels, b, width) \
        + 16 * b * largest


def classifier_measure_bytes(name: str, image_size: int, channels: int, batch_size: int,
                             n_images: int, width: int = 32, on_gpu: bool = False) -> int:
    """Peak memory in bytes of :func:`hierphase.stages.images.measure_sweep` on a shard of
    ``n_images``: the weights, the clean and swept images (uint8), the long table (a row per
    image and layer), and per batch (``on_gpu``: on the GPU, else here) both forwards' hooked
    outputs, a forward's transients and one layer standardised (three float32 temporaries a
    side) and in float64 (both sides)."""
    n = check_int(n_images, "n_images", 1)
    b = min(check_int(batch_size, "batch_size", 1), n)
    floats = classifier_layer_floats(name, image_size, width)
    held = 4 * classifier_parameter_count(name, channels, width) \
        + 2 * n * channels * image_size ** 2 + 200 * n * len(floats)
    if on_gpu:
        return held + CUDA_HOST_BYTES
    return held + classifier_batch_bytes(name, image_size, channels, b, width, passes=2) \
        + 40 * b * max(floats.values())


def clip_sizes(config: dict) -> dict:
    """The sizes of a transformers CLIP vision tower from its ``config.json`` (a CLIPModel's
    holds it under ``vision_config``), with transformers' defaults for ViT-B/32."""
    vision = config.get("vision_config") or config
    return {"image_size": int(vision.get("image_size", 224)),
            "patch_size": int(vision.get("patch_size", 32)),
            "hidden_size": int(vision.get("hidden_size", 768)),
            "intermediate_size": int(vision.get("intermediate_size", 3072)),
            "heads": int(vision.get("num_attention_heads", 12))}


def clip_batch_bytes(sizes: dict, channels: int, image_size: int, batch_size: int) -> int:
    """A batch through :class:`hierphase.images.embeddings.ClipPatches`: per image the crop,
    its resized, normalised RGB copies, and a layer's tokens, q/k/v, attention scores and MLP
    features, float32."""
    side = sizes["image_size"] // sizes["patch_size"]
    tokens = side * side + 1
    per_image = 2 * channels * image_size ** 2 + 3 * 3 * sizes["image_size"] ** 2 \
        + tokens * (6 * sizes["hidden_size"] + 2 * sizes["intermediate_size"]) \
        + 2 * sizes["heads"] * tokens ** 2
    return 4 * check_int(batch_size, "batch_size", 1) * per_image


# ---------------------------------------------------------------- pretrained diffusion models
def unet_skip_floats(image_size: int, widths, layers_per_block: int) -> int:
    """Floats per image of a UNet's down-path outputs that the up path reads back:
    ``layers_per_block + 1`` maps of every level's width (its resolution halving per level)."""
    skips, side = 0, check_int(image_size, "image_size", 1)
    for width in widths:
        skips += (layers_per_block + 1) * width * side * side
        side = max(1, side // 2)
    return skips


def unet_forward_floats(image_size: int, widths, layers_per_block: int,
                        attention_heads: dict[int, int]) -> int:
    """Floats per image of a UNet's forward without gradients: the skips
    (:func:`unet_skip_floats`), eight maps of the first width at full resolution (the up path's
    concatenations, a ResNet block's norm, activation and convolutions) and the largest
    attention's scores, softmax and its input (``attention_heads``: side -> heads)."""
    scores = max((3 * heads * side ** 4 for side, heads in attention_heads.items()), default=0)
    return unet_skip_floats(image_size, widths, layers_per_block) \
        + 8 * widths[0] * image_size ** 2 + scores


def adm_shape(flags: dict) -> tuple[int, list[int], int, dict[int, int]]:
    """(image_size, widths, num_res_blocks, {side: heads}) of guided-diffusion's ``UNetModel``
    for ``flags`` (:class:`hierphase.images.models.AdmFlags`' fields), with ``create_model``'s
    channel multipliers per image size."""
    size = int(flags.get("image_size", 256))
    mult = flags.get("channel_mult") or ""
    if mult:
        mult = [float(m) for m in str(mult).split(",")]
    else:
        mult = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4),
                64: (1, 2, 3, 4)}.get(size)
        if mult is None:
            raise ValueError(f"images.model.adm_flags: no default channel_mult at image_size "
                             f"{size}; give channel_mult")
    base = int(flags.get("num_channels", 256))
    widths = [int(base * m) for m in mult]
    head_channels = int(flags.get("num_head_channels", 64))

    def n_heads(width):
        return width // head_channels if head_channels > 0 else int(flags.get("num_heads", 4))

    heads = {}
    for res in str(flags.get("attention_resolutions", "32,16,8")).split(","):
        if res.strip():
            level = int(math.log2(max(1, size // int(res))))  # ds = size / res, as guided-diffusion
            if level < len(widths):
                heads[size // 2 ** level] = n_heads(widths[level])
    heads.setdefault(size // 2 ** (len(widths) - 1), n_heads(widths[-1]))  # the middle block's
    return size, widths, int(flags.get("num_res_blocks", 2)), heads


def diffusers_shape(config: dict) -> tuple[int, list[int], int, dict[int, int]]:
    """(sample_size, widths, layers_per_block, {side: heads}) of a diffusers ``UNet2DModel``
    from its ``config.json`` (attention where a down block's type starts with ``Attn``)."""
    size = config.get("sample_size", 64)
    size = int(size if isinstance(size, int) else size[0])
    widths = [int(w) for w in config.get("block_out_channels", (224, 448, 672, 896))]
    head_dim = config.get("attention_head_dim") or 8
    heads, side = {}, size
    for width, kind in zip(widths, config.get("down_block_types", ())):
        if str(kind).startswith("Attn"):
            heads[side] = max(1, width // int(head_dim))
        side = max(1, side // 2)
    heads.setdefault(max(1, size // 2 ** (len(widths) - 1)), 1)  # the middle block's
    return size, widths, int(config.get("layers_per_block", 2)), heads


def pretrained_sweep_bytes(weights_bytes: int, shape: tuple, channels: int, batch_size: int,
                           n_images: int, on_gpu: bool = False) -> int:
    """Peak memory in bytes of a forward-backward sweep of ``n_images`` with a pretrained UNet
    whose weight files hold ``weights_bytes`` and whose ``shape`` is :func:`adm_shape`'s or
    :func:`diffusers_shape`'s: the network built and its state dict read beside it while it
    loads (twice the weights), the images as uint8 and as float32 three times, and per image of
    a batch (``on_gpu``: on the GPU, else here) the forward's maps."""
    size, widths, layers, heads = shape
    n = check_int(n_images, "n_images", 1)
    held = 2 * int(weights_bytes) + 13 * n * channels * size * size
    if on_gpu:
        return held + CUDA_HOST_BYTES
    b = min(check_int(batch_size, "batch_size", 1), n)
    return held + 4 * b * unet_forward_floats(size, widths, layers, heads)


def imagenet_data_bytes(image_size: int, shard_images: int) -> int:
    """Peak memory in bytes of :func:`hierphase.images.imagenet.prepare_imagenet`: one shard's
    cropped RGB images (uint8) listed and stacked, and a decoded source image."""
    pixels = 3 * check_int(image_size, "image_size", 1) ** 2
    return 2 * check_int(shard_images, "shard_images", 1) * pixels + DECODED_IMAGE_BYTES


def image_runs(n_images: int, n_traj: int, batch_size: int) -> int:
    """Forward-backward runs :func:`hierphase.stages.images.correlation_shard` holds at once:
    the ``n_traj`` runs of as many images as a batch takes (at least one image)."""
    per_chunk = max(1, check_int(batch_size, "batch_size", 1) // check_int(n_traj, "n_traj", 2))
    return min(per_chunk, check_int(n_images, "n_images", 1)) * n_traj


def image_correlation_bytes(sweep_bytes: int, pixels: int, n_images: int, source_images: int,
                            runs: int, embeddings) -> int:
    """Peak memory in bytes of :func:`hierphase.stages.images.correlation_sweep` on ``n_images``
    images cut from ``source_images`` (uint8, the source shards and their concatenation) with
    ``pixels`` values each: the clean images as float32, the runs' inputs, outputs rounded and
    rescaled; per embedding (``embeddings``: (floats per image, patches of its grid, bytes of its
    weights, bytes of a batch through it)) its weights, the clean and the runs' embeddings and
    the pair-sum rows; and the larger of ``sweep_bytes``, the diffusion model's sweep of ``runs``
    images (:func:`image_runs`), and a batch through an embedding, which run one after the
    other."""
    total = 2 * source_images * pixels + 4 * n_images * pixels + 9 * runs * pixels
    for floats, patches, weights, _ in embeddings:
        total += 8 * (n_images + runs) * floats + 200 * n_images * patches + weights
    return int(total + max([sweep_bytes] + [batch for *_, batch in embeddings]))


def digits_data_bytes(image_size: int, n_digits: int = 1797) -> int:
    """Peak memory in bytes of :func:`hierphase.images.digits_data.load_digits_images` and the
    split: the digits upsampled in float32 (interpolated, rounded, clamped) and as uint8, then
    split into two uint8 subsets."""
    return n_digits * check_int(image_size, "image_size", 8) ** 2 * (3 * 4 + 3)


def weight_files_bytes(folder) -> int:
    """Bytes of the weight files (safetensors, bin, pt, pth) in a model folder."""
    from pathlib import Path

    return sum(p.stat().st_size for p in Path(folder).iterdir()
               if p.suffix in (".safetensors", ".bin", ".pt", ".pth") and p.is_file())


def pixel_embedding(channels: int, side: int, patch: int) -> tuple[int, int, int, int]:
    """:func:`image_correlation_bytes`' entry of a pixel-block embedding of a ``side`` crop."""
    return channels * side ** 2, (side // patch) ** 2, 0, 0


def classifier_embedding(name: str, image_size: int, channels: int, layer: str, batch_size: int,
                         width: int = 32, with_model: bool = True,
                         on_gpu: bool = False) -> tuple[int, int, int, int]:
    """:func:`image_correlation_bytes`' entry of a classifier layer's map: the layer's floats,
    and (``with_model``: the first such embedding) the weights and a batch through the whole
    classifier (every hooked layer; ``on_gpu``: the batch on the GPU)."""
    floats = classifier_layer_floats(name, image_size, width)[layer]
    if not with_model:
        return floats, floats, 0, 0
    batch = 0 if on_gpu else classifier_batch_bytes(name, image_size, channels, batch_size, width)
    return floats, floats, 4 * classifier_parameter_count(name, channels, width), batch


def clip_embedding(sizes: dict, weights_bytes: int, channels: int, side: int, batch_size: int,
                   on_gpu: bool = False) -> tuple[int, int, int, int]:
    """:func:`image_correlation_bytes`' entry of CLIP's patch tokens of a ``side`` crop
    (``sizes``: :func:`clip_sizes`): the tokens, the weights and a batch through the tower."""
    grid = (sizes["image_size"] // sizes["patch_size"]) ** 2
    batch = 0 if on_gpu else clip_batch_bytes(sizes, channels, side, batch_size)
    return grid * sizes["hidden_size"], grid, int(weights_bytes), batch


def image_quality_bytes(sweep_bytes: int, name: str, image_size: int, channels: int,
                        n_held_out: int, n_samples: int, width: int = 32) -> int:
    """Peak memory in bytes of :func:`hierphase.stages.images.quality`: ``sweep_bytes``, the
    sampling of ``n_samples`` (:func:`ddpm_sweep_bytes`), and the classifier's weights and its
    forward over every held-out image (uint8 beside) or every sample at once."""
    at_once = max(check_int(n_held_out, "n_held_out", 1), check_int(n_samples, "n_samples", 1))
    return sweep_bytes + 4 * classifier_parameter_count(name, channels, width) \
        + classifier_batch_bytes(name, image_size, channels, at_once, width) \
        + n_held_out * channels * image_size ** 2


# ----------------------------------------------------------------------------- MDLM
def mdlm_parameter_count(vocab: int, hidden: int, n_blocks: int, cond_dim: int,
                         mlp_ratio: int) -> int:
    """Parameters of :class:`hierphase.mdlm.model.DiffusionTransformer`: the token embedding, the
    level embedding's MLP (from a 256-wide sinusoid), per block two norms, attention (qkv and out,
    no bias), the MLP and the adaptive norm's map (6 d from the condition), the output layer."""
    V, d = check_int(vocab, "vocab", 2), check_int(hidden, "hidden", 1)
    c, r = check_int(cond_dim, "cond_dim", 1), check_int(mlp_ratio, "mlp_ratio", 1)
    blocks = check_int(n_blocks, "n_blocks", 1)
    level = 256 * c + c + c * c + c
    block = 2 * d + 4 * d * d + (d * r * d + r * d) + (r * d * d + d) + (c * 6 * d + 6 * d)
    output = d + (d * V + V) + (c * 2 * d + 2 * d)
    return V * d + level + blocks * block + output


def _mdlm_forward_floats(vocab: int, hidden: int, n_blocks: int, n_heads: int, mlp_ratio: int,
                         n: int, grad: bool) -> int:
    """Float32 values one sequence of ``n`` tokens holds through the network. With ``grad`` (what
    the backward pass keeps), per block and token the norms, modulations, q, k, v and their
    rotations, the attention's output, the MLP's expanded layer and activation and the attention
    weights (``n`` per head and token), and the logits with their softmax and its gradient;
    without, one block's transients (the residual, q, k, v, the MLP's expanded layer) and the
    logits with the sampler's probabilities (measured: the attention runs fused)."""
    d = hidden
    if not grad:
        return n * (8 * d + mlp_ratio * d + 2 * vocab)
    per_token = 14 * d + 2 * mlp_ratio * d + 2 * n_heads * n
    return n * (n_blocks * per_token + 4 * vocab)


def mdlm_training_bytes(vocab: int, hidden: int, n_blocks: int, n_heads: int, cond_dim: int,
                        mlp_ratio: int, n: int, batch_size: int, n_sequences: int) -> int:
    """Peak memory in bytes of :func:`hierphase.mdlm.train.train` on ``n_sequences`` sequences of
    ``n`` tokens in batches of ``batch_size`` (float32 on CPU): the parameters four times
    (weights, gradients, AdamW's two moments) and twice more (the checkpoint's copy when it is
    written), the activations the backward pass keeps (:func:`_mdlm_forward_floats`), and the
    training set (int64, with the batch's masks and copies)."""
    params = mdlm_parameter_count(vocab, hidden, n_blocks, cond_dim, mlp_ratio)
    b = check_int(batch_size, "batch_size", 1)
    act = _mdlm_forward_floats(vocab, hidden, n_blocks, n_heads, mlp_ratio, n, grad=True)
    return int(4 * 6 * params + 4 * b * act + 8 * check_int(n_sequences, "n_sequences", 1) * n
               + 8 * 6 * b * n)


def mdlm_sampling_bytes(vocab: int, hidden: int, n_blocks: int, n_heads: int, cond_dim: int,
                        mlp_ratio: int, n: int, batch_size: int, rows: int) -> int:
    """Peak memory in bytes of denoising ``rows`` sequences of ``n`` tokens with an MDLM
    (:class:`hierphase.mdlm.diffusion.ModelDenoiser`, no gradients) in batches of
    ``batch_size``: the parameters, one batch through the network with the sampler's
    probabilities (:func:`_mdlm_forward_floats`), and the rows with their masks, outputs and
    change spins (a few 8-byte values per token)."""
    params = mdlm_parameter_count(vocab, hidden, n_blocks, cond_dim, mlp_ratio)
    b = min(check_int(batch_size, "batch_size", 1), check_int(rows, "rows", 1))
    act = _mdlm_forward_floats(vocab, hidden, n_blocks, n_heads, mlp_ratio, n, grad=False)
    return int(4 * params + 4 * b * act + 8 * 6 * rows * n)


def ngram_bytes(vocab: int, order: int, n: int, chunk: int = 512) -> int:
    """Peak memory in bytes of the n-gram control's exact forward-backward
    (:meth:`hierphase.text.ngram.NgramModel.denoiser`): its transition table and counts (float64
    ``V**order``, three copies while fitting) and one chunk's forward messages (``n`` states of
    ``V**(order-1)`` per row) with the hidden tokens' joint (``V**order`` per row at a time)."""
    V, k = check_int(vocab, "vocab", 1), check_int(order, "order", 1)
    return int(8 * (3 * V ** k + chunk * (n + 2) * V ** (k - 1) + 2 * chunk * V ** k // max(1, V)))
