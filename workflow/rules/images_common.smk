# Images branch bookkeeping: config shortcuts, checks, seeds, input and target functions.
import math
from pathlib import Path

IMG = config["images"]
IMG_DATA = IMG["data"]
IMG_MODEL = IMG["model"]
IMG_CLF = IMG["classifier"]
IMG_DS = IMG_DATA["name"]
IMG_RUN = f"{IMG_DS}/{IMG_MODEL['name']}/{IMG_CLF['name']}"
IMG_N_CLASSES = (
    10 if IMG_DATA["kind"] == "digits" else IMG_DATA["imagenet"]["n_classes"]
)
IMG_N_IMAGES = IMG["n_per_class"] * IMG_N_CLASSES
IMG_SHARDS = list(range(math.ceil(IMG_N_IMAGES / IMG["shard_size"])))
IMG_K = sorted(IMG["k_grid"])
# GPU rules request a GPU (SLURM: --gpus) only when the config says the jobs run on one.
IMG_GPU = 1 if IMG["device"] == "cuda" else 0

IMG_SHARD = f"results/images/data/{IMG_DS}/shard{{shard}}.pt"
IMG_TRAIN_SET = f"results/images/data/{IMG_DS}/train.pt"
IMG_HELD_OUT = f"results/images/data/{IMG_DS}/held_out.pt"
IMG_TRAINED_MODEL = f"results/images/models/{IMG_DS}/{IMG_MODEL['name']}"
IMG_TRAINED_CLF = f"results/images/classifiers/{IMG_DS}/{IMG_CLF['name']}.pt"
IMG_SWEEP = (
    f"results/images/sweep/{IMG_DS}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.pt"
)
IMG_MEASURE = f"results/images/measure/{IMG_RUN}/k{{k}}/shard{{shard}}.parquet"
IMG_TABLES = f"results/images/tables/{IMG_RUN}"
IMG_FIGURES = f"results/images/figures/{IMG_RUN}"

# Change correlations of patches: the first n_images sweep images, one job per (k, shard).
IMG_CORR = IMG["correlations"]
IMG_CORR_ON = IMG_CORR["enabled"]
IMG_CORR_K = sorted(IMG_CORR["k_grid"])
IMG_CORR_N = IMG_CORR["n_images"]
IMG_CORR_SHARDS = list(range(math.ceil(IMG_CORR_N / IMG_CORR["shard_size"])))
IMG_CORR_SHARD = f"results/images/correlations/{IMG_RUN}/k{{k}}/shard{{shard}}.parquet"


def check_images_config(img):
    """Constraints between keys and local paths, which JSON schema cannot express."""
    data, model, clf = img["data"], img["model"], img["classifier"]
    too_big = [k for k in img["k_grid"] if k > img["respaced_steps"]]
    if too_big:
        raise config_error(
            "images.k_grid",
            f"{too_big} exceed images.respaced_steps = {img['respaced_steps']} (k is a respaced "
            "step index, t/T = k / respaced_steps).",
        )
    if data["kind"] == "digits" and data["image_size"] % 8:
        raise config_error(
            "images.data.image_size",
            "digits are 8x8: image_size must be a multiple of 8.",
        )
    if model["kind"] == "train" and data["kind"] != "digits":
        raise config_error(
            "images.model.kind",
            "'train' trains a DDPM on the digits' training split; with images.data.kind = "
            f"{data['kind']!r} give a pretrained model (kind 'adm' or 'diffusers' and images.model.path).",
        )
    if model["kind"] != "train":
        path = model["path"]
        if not path or not Path(path).exists():
            what = (
                "the OpenAI checkpoint file (e.g. 256x256_diffusion_uncond.pt)"
                if model["kind"] == "adm"
                else "a diffusers UNet2DModel folder (config.json + weights)"
            )
            raise config_error(
                "images.model.path",
                f"{path!r} does not exist; set it to {what} (never downloaded by the workflow).",
            )
    if clf["weights"] is None:
        if clf["name"] != "digits_cnn" or data["kind"] != "digits":
            raise config_error(
                "images.classifier.weights",
                f"no weights for {clf['name']!r}: only digits_cnn on the digits is trained by the "
                "workflow; set it to the local state-dict file of the classifier.",
            )
    elif not Path(clf["weights"]).is_file():
        raise config_error(
            "images.classifier.weights",
            f"{clf['weights']!r} is not a file; set it to the local state dict of {clf['name']} "
            "(e.g. torchvision's convnext_base-6075fbad.pth).",
        )
    if data["kind"] == "imagenet":
        inet = data["imagenet"]
        if not inet["val_dir"] or not Path(inet["val_dir"]).is_dir():
            raise config_error(
                "images.data.imagenet.val_dir",
                f"{inet['val_dir']!r} is not a folder; set it to the ILSVRC2012 validation images "
                "(ILSVRC2012_val_*.JPEG, or one subfolder per class).",
            )
        if inet["labels"] is not None and not Path(inet["labels"]).is_file():
            raise config_error(
                "images.data.imagenet.labels",
                f"{inet['labels']!r} is not a file; set it to the devkit's "
                "ILSVRC2012_validation_ground_truth.txt, a filename,label CSV, or null for class "
                "subfolders.",
            )

    if data["kind"] == "digits":
        from hierphase.images.ddpm_training import DDPMTrainConfig
        from hierphase.images.digits_data import check_n_per_class

        package_check(
            "images",
            lambda: check_n_per_class(img["n_per_class"], data["held_out_fraction"]),
        )
        package_check("images.model.train", lambda: DDPMTrainConfig(**model["train"]))
    check_device("images.device", img["device"])
    # per (k, shard): a sweep and a measure job; a few per-run jobs besides
    jobs = {"images.n_per_class": 2 * len(IMG_K) * len(IMG_SHARDS) + 12}
    if img["correlations"]["enabled"]:
        jobs["images.correlations.n_images"] = check_images_correlations(img) + 2
    return jobs


def check_images_correlations(img):
    """Cross-key checks of images.correlations (the embeddings through the package's own
    validator; CLIP weights must be on disk); returns the number of (k, shard) jobs."""
    from hierphase.images.embeddings import embedding_key, specs_from_config

    corr = img["correlations"]
    too_big = [k for k in corr["k_grid"] if k > img["respaced_steps"]]
    if too_big:
        raise config_error(
            "images.correlations.k_grid",
            f"{too_big} exceed images.respaced_steps = {img['respaced_steps']}.",
        )
    if corr["n_images"] > IMG_N_IMAGES:
        raise config_error(
            "images.correlations.n_images",
            f"{corr['n_images']} exceeds the {IMG_N_IMAGES} sweep images (images.n_per_class "
            f"x {IMG_N_CLASSES} classes).",
        )
    for name, fields in corr["embeddings"].items():
        spec = package_check(
            embedding_key(name),
            lambda: specs_from_config({name: fields}, img["data"]["image_size"])[0],
        )
        if spec.kind == "classifier" and img["classifier"]["name"] == "digits_cnn":
            from hierphase.images.digits_cnn import DIGITS_SPATIAL_LAYERS

            if spec.layer not in DIGITS_SPATIAL_LAYERS:
                raise config_error(
                    embedding_key(name, "layer"),
                    f"{spec.layer!r} is not a spatial layer of digits_cnn; choose one of "
                    f"{list(DIGITS_SPATIAL_LAYERS)}.",
                )
        if spec.kind == "clip" and not (Path(spec.weights) / "config.json").is_file():
            raise config_error(
                embedding_key(name, "weights"),
                f"{spec.weights!r} is not a folder with config.json; set it to the local CLIP "
                "ViT weights as written by transformers' save_pretrained (e.g. a snapshot of "
                "openai/clip-vit-base-patch32); never downloaded by the workflow.",
            )
    return len(corr["k_grid"]) * len(IMG_CORR_SHARDS)


IMAGES_JOBS = check_images_config(IMG) if IMG["enabled"] else {}


wildcard_constraints:
    k=r"\d+",
    shard=r"\d+",


def images_seed(stage, *parts):
    """Seed of one job (job_seed): the stage's offset in images.seeds comes first among its parts,
    so changing it redraws that stage alone."""
    return job_seed("images", stage, IMG["seeds"].get(stage, 0), *parts)


def images_model_input():
    """The diffusion model the sweeps use: trained here, or the configured local path."""
    if IMG_MODEL["kind"] == "train":
        return IMG_TRAINED_MODEL
    return IMG_MODEL["path"]


def images_classifier_input():
    return IMG_TRAINED_CLF if IMG_CLF["weights"] is None else IMG_CLF["weights"]


def images_measure_shards(wildcards=None):
    return expand(IMG_MEASURE, k=IMG_K, shard=IMG_SHARDS)


def images_corr_range(wildcards):
    """Positions (start, stop) in the sweep images of correlation shard ``wildcards.shard``."""
    start = int(wildcards.shard) * IMG_CORR["shard_size"]
    return start, min(start + IMG_CORR["shard_size"], IMG_CORR_N)


def images_corr_sources(wildcards):
    """The data shards that hold the images of one correlation shard (in order)."""
    from hierphase.images.shards import shard_bounds

    start, stop = images_corr_range(wildcards)
    bounds = shard_bounds(IMG_N_IMAGES, len(IMG_SHARDS))
    return [
        IMG_SHARD.format(shard=i)
        for i, (lo, hi) in enumerate(bounds)
        if lo < stop and hi > start
    ]


def images_corr_first(wildcards):
    """Position in the sweep images of the first image of images_corr_sources."""
    from hierphase.images.shards import shard_bounds

    start, _ = images_corr_range(wildcards)
    bounds = shard_bounds(IMG_N_IMAGES, len(IMG_SHARDS))
    return next(lo for lo, hi in bounds if lo <= start < hi)


def images_corr_inputs(wildcards=None):
    """Local weights the correlation jobs read: the classifier when an embedding uses it, the
    CLIP folders."""
    embeddings = IMG_CORR["embeddings"].values()
    inputs = {}
    if any(e["kind"] == "classifier" for e in embeddings):
        inputs["classifier"] = images_classifier_input()
    clip = [e["weights"] for e in embeddings if e["kind"] == "clip"]
    if clip:
        inputs["clip"] = clip
    return inputs


def images_targets():
    """The branch's figures, tables and (digits) the quality table."""
    targets = [
        f"{IMG_FIGURES}/{fig}.{ext}"
        for fig in ("grid", "class_kept", "layer_similarity")
        for ext in ("png", "pdf")
    ]
    targets += [
        f"{IMG_TABLES}/{t}.{ext}"
        for t in ("class_kept", "layer_similarity")
        for ext in ("parquet", "csv")
    ]
    if IMG_CORR_ON:
        targets += [
            f"{IMG_TABLES}/{t}.{ext}"
            for t in ("patch_correlations", "patch_susceptibility")
            for ext in ("parquet", "csv")
        ]
        targets += [f"{IMG_FIGURES}/correlations.{ext}" for ext in ("png", "pdf")]
    if IMG_DATA["kind"] == "digits":
        targets += [f"{IMG_TABLES}/quality.parquet", f"{IMG_TABLES}/quality.csv"]
        targets += [f"{IMG_FIGURES}/samples.{ext}" for ext in ("png", "pdf")]
    return targets
