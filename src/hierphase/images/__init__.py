"""Images branch engine: forward-backward sweeps with pretrained image diffusion models.

API (stable names; the Snakemake rules and the digits modules code against them):

``hierphase.images.diffusion``
    ``respaced_schedule(num_steps=250, T=1000) -> RespacedSchedule`` (linear betas, OpenAI even
    respacing, ``.timesteps``, ``.betas``, ``.alphas_bar``, ``.t(k)``, ``.t_model(k)``,
    ``.t_over_T(k)``); ``forward_backward(model, x0, k, seeds, batch_size=16, progress=True, *,
    schedule=None, num_steps=250, fixed_variance="fixed_small", clip_denoised=True) ->
    ForwardBackward`` with ``.x0_hat`` (N, C, H, W) float32 in [-1, 1] and ``.k, .K, .T, .t,
    .t_model, .t_over_T`` (``.record()`` as a dict). ``k`` is the respaced step, 0 = clean
    (returns x0 exactly), K = pure noise; ``t_over_T = k / K`` (the paper's axis); ``t`` the
    original step in the core convention (``alphas_bar[t]``, 0 = clean). One seed per image.
``hierphase.images.models``
    ``DiffusionModel`` (``model(x_t, t_model) -> (eps, var_values | None)``, attributes
    ``image_size, channels, learned_variance``); ``load_adm(path, flags=AdmFlags(), device,
    dtype)``, ``load_diffusers_unet(dir, device, dtype)``, ``wrap_diffusers_unet(unet)``,
    ``load_model(kind, path, device, dtype, flags)`` with kind ``"adm" | "diffusers"``.
``hierphase.images.classifiers``
    ``FeatureClassifier(module, layers, mean=, std=, input_size=, name=)``: ``.layer_names``
    (shallow -> deep), ``clf(x in [-1, 1]) -> (logits, {layer: (B, C, S) float32})``;
    ``build_classifier(name, weights_path, device="auto")`` for ``convnext_base`` (41 layers),
    ``resnet50``, ``vit_b_16``, ``digits_cnn`` (``hierphase.images.digits_cnn``);
    inputs in [-1, 1], given as they are to modules without mean/std normalisation;
    ``feature_statistics(clf, images) -> {"mean": {layer: (C,)}, "std": {...}}``;
    ``layer_similarity(feats_a, feats_b, stats) -> {layer: (B,)}``; ``class_kept(logits_a, logits_b) -> (B,) bool``; ``measure(clf, x0, x0_hat, stats) ->
    {pred_x0, pred_x0_hat, kept, similarity (N, n_layers)}``.
``hierphase.images.shards``
    The uint8 shard format (``images`` (N, C, H, W) uint8, ``labels``, ``names``):
    ``write_shard``, ``read_shard``, ``to_model_scale`` (uint8 -> [-1, 1]), ``to_uint8``,
    ``shard_bounds`` (how the data stages cut a set into shards).
``hierphase.images.embeddings``
    Patch embeddings for the change correlations, callables ``images in [-1, 1] -> (B, h, w, D)``:
    ``PixelPatches(patch, crop)``, ``LayerPatches(clf, layer)`` (a feature map),
    ``ClipPatches(model, crop)`` with ``load_clip_vision(folder)`` (CLIP ViT last-layer tokens,
    ``transformers``, local weights); ``EmbeddingSpec`` and ``build_embeddings(specs, ...)``.
``hierphase.images.imagenet``
    ILSVRC2012 validation selection, resize + centre crop, and shard writing.

Missing inputs name their config keys: ``images.model.path``, ``images.classifier.weights``,
``images.data.imagenet.val_dir``, ``images.data.imagenet.labels``,
``images.correlations.embeddings.<name>.weights``.
"""
