"""Figure glue of the images branch: one function per figure rule of ``hierphase.plan.images``,
named after it, from the rule's inputs, params and wildcards to a figure."""

from __future__ import annotations

from collections.abc import Mapping

from hierphase.io import load_tensors, read_table
from hierphase.plots import images as plots

__all__ = ["images_fig_grid", "images_fig_class_kept", "images_fig_layer_similarity",
           "images_fig_samples", "images_fig_correlations"]


def images_fig_grid(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """One clean image per row and its x̂0 at every t/T of the sweep."""
    from hierphase.images.shards import read_shard  # torch: only this figure reads shards
    from hierphase.stages.images import read_sweep

    clean = read_shard(inputs["shard"])
    sweeps = sorted((read_sweep(path) for path in inputs["sweeps"]), key=lambda s: s[1]["k"])
    return plots.image_grid(clean["images"], [s[0]["images"] for s in sweeps],
                            [s[1]["t_over_T"] for s in sweeps], n_rows=params["n_rows"],
                            labels=[int(x) for x in clean["labels"]])


def images_fig_class_kept(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Probability that the class is kept vs t/T, with its confidence band."""
    return plots.class_kept_figure(read_table(inputs["table"]), n_classes=params["n_classes"])


def images_fig_layer_similarity(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Per-layer similarity of x0 and x̂0 vs t/T, coloured by depth."""
    return plots.layer_similarity_figure(read_table(inputs["table"]))


def images_fig_samples(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """(digits) The DDPM's unconditional samples and the classifier's confidence."""
    samples = load_tensors(inputs["samples"])
    return plots.samples_figure(samples["images"], samples["confidence"],
                                threshold=params["confidence"])


def images_fig_correlations(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """chi(t) and xi(t) of the patch changes on the t/T axis of the class-kept curve and the
    layer similarities, the class half-point marked."""
    return plots.correlations_figure(read_table(inputs["class_kept"]),
                                     read_table(inputs["layer_similarity"]),
                                     read_table(inputs["susceptibility"]),
                                     n_classes=params["n_classes"])
