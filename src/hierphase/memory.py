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
           "classifier_train_bytes"]

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
    skips, side = 0, image_size
    for width in widths:
        skips += (cfg.layers_per_block + 1) * width * side * side
        side = max(1, side // 2)
    coarse = max(1, image_size // 2 ** (len(widths) - 1))
    per_image = skips + 8 * widths[0] * image_size ** 2 + 2 * coarse ** 4
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
