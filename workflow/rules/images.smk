# Images branch (PAPER.md section 6): clean image shards -> [digits: train a DDPM and a CNN]
# -> classifier feature statistics on the clean images -> forward-backward sweeps, one job per
# (k, shard) -> per-shard class kept and layer similarities -> tidy tables -> one figure per rule.
# Same rules for the digits default and the ImageNet preset; only the config differs.
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


if IMG["enabled"]:
    check_images_config(IMG)


wildcard_constraints:
    k=r"\d+",


def images_seed(stage, *wildcards):
    """Seed of one job: root seed, the stage's offset in images.seeds, the stage and wildcards."""
    offset = IMG["seeds"].get(stage, 0)
    return derive_seed(config["seed"], "images", stage, offset, *wildcards)


def images_model_input():
    """The diffusion model the sweeps use: trained here, or the configured local path."""
    if IMG_MODEL["kind"] == "train":
        return IMG_TRAINED_MODEL
    return IMG_MODEL["path"]


def images_classifier_input():
    return IMG_TRAINED_CLF if IMG_CLF["weights"] is None else IMG_CLF["weights"]


def images_measure_shards(wildcards=None):
    return expand(IMG_MEASURE, k=IMG_K, shard=IMG_SHARDS)


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
    if IMG_DATA["kind"] == "digits":
        targets += [f"{IMG_TABLES}/quality.parquet", f"{IMG_TABLES}/quality.csv"]
        targets += [f"{IMG_FIGURES}/samples.{ext}" for ext in ("png", "pdf")]
    return targets


rule images:
    """Target: only the images branch (`snakemake images`)."""
    input:
        images_targets(),
    localrule: True


if IMG_DATA["kind"] == "digits":

    rule images_data:
        output:
            shards=expand(IMG_SHARD, shard=IMG_SHARDS),
            train=IMG_TRAIN_SET,
            held_out=IMG_HELD_OUT,
        log:
            f"logs/images/data/{IMG_DS}.log",
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            data=IMG_DATA,
            n_per_class=IMG["n_per_class"],
            seed=images_seed("split"),
        script:
            "../scripts/images_data_digits.py"

else:

    rule images_data:
        input:
            val_dir=IMG_DATA["imagenet"]["val_dir"],
            labels=IMG_DATA["imagenet"]["labels"] or [],
        output:
            shards=expand(IMG_SHARD, shard=IMG_SHARDS),
        log:
            f"logs/images/data/{IMG_DS}.log",
        benchmark:
            f"logs/benchmarks/images/data/{IMG_DS}.tsv"
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            mem_mb=8000,
            runtime=120,
        params:
            data=IMG_DATA,
            n_per_class=IMG["n_per_class"],
            seed=images_seed("split"),
        script:
            "../scripts/images_data_imagenet.py"


rule images_train_ddpm:
    input:
        train=IMG_TRAIN_SET,
    output:
        model=directory(IMG_TRAINED_MODEL),
        loss=f"{IMG_TRAINED_MODEL}.loss.parquet",
        loss_csv=f"{IMG_TRAINED_MODEL}.loss.csv",
    log:
        f"logs/images/models/{IMG_DS}/{IMG_MODEL['name']}.log",
    benchmark:
        f"logs/benchmarks/images/models/{IMG_DS}/{IMG_MODEL['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["train_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=IMG_GPU,
    params:
        train=IMG_MODEL["train"],
        device=IMG["device"],
        seed=images_seed("train", "ddpm"),
    script:
        "../scripts/images_train_ddpm.py"


rule images_train_classifier:
    input:
        train=IMG_TRAIN_SET,
        held_out=IMG_HELD_OUT,
    output:
        weights=IMG_TRAINED_CLF,
        history=IMG_TRAINED_CLF.replace(".pt", ".history.parquet"),
        history_csv=IMG_TRAINED_CLF.replace(".pt", ".history.csv"),
    log:
        f"logs/images/classifiers/{IMG_DS}/{IMG_CLF['name']}.log",
    benchmark:
        f"logs/benchmarks/images/classifiers/{IMG_DS}/{IMG_CLF['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["train_threads"]
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=IMG_GPU,
    params:
        train=IMG_CLF["train"],
        device=IMG["device"],
        seed=images_seed("train", "classifier"),
    script:
        "../scripts/images_train_classifier.py"


rule images_stats:
    input:
        shards=expand(IMG_SHARD, shard=IMG_SHARDS),
        classifier=images_classifier_input(),
    output:
        stats=f"results/images/stats/{IMG_DS}/{IMG_CLF['name']}/stats.pt",
    log:
        f"logs/images/stats/{IMG_DS}/{IMG_CLF['name']}.log",
    benchmark:
        f"logs/benchmarks/images/stats/{IMG_DS}/{IMG_CLF['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=IMG_GPU,
    params:
        classifier=IMG_CLF["name"],
        device=IMG["device"],
        batch_size=IMG["batch_size"],
    script:
        "../scripts/images_stats.py"


rule images_sweep:
    input:
        shard=IMG_SHARD,
        model=images_model_input(),
    output:
        sweep=IMG_SWEEP,
    log:
        f"logs/images/sweep/{IMG_DS}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.log",
    benchmark:
        f"logs/benchmarks/images/sweep/{IMG_DS}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=IMG_GPU,
    params:
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        device=IMG["device"],
        respaced_steps=IMG["respaced_steps"],
        batch_size=IMG["batch_size"],
        seed=images_seed("sweep"),
    script:
        "../scripts/images_sweep.py"


rule images_measure:
    input:
        shard=IMG_SHARD,
        sweep=IMG_SWEEP,
        stats=rules.images_stats.output.stats,
        classifier=images_classifier_input(),
    output:
        table=IMG_MEASURE,
    log:
        f"logs/images/measure/{IMG_RUN}/k{{k}}/shard{{shard}}.log",
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=IMG_GPU,
    params:
        classifier=IMG_CLF["name"],
        device=IMG["device"],
        batch_size=IMG["batch_size"],
    script:
        "../scripts/images_measure.py"


rule images_aggregate:
    input:
        shards=images_measure_shards(),
    output:
        class_kept=f"{IMG_TABLES}/class_kept.parquet",
        class_kept_csv=f"{IMG_TABLES}/class_kept.csv",
        layer_similarity=f"{IMG_TABLES}/layer_similarity.parquet",
        layer_similarity_csv=f"{IMG_TABLES}/layer_similarity.csv",
    log:
        f"logs/images/tables/{IMG_RUN}/aggregate.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=IMG_DS,
        model=IMG_MODEL["name"],
        classifier=IMG_CLF["name"],
        config=IMG,
        seed=config["seed"],
    script:
        "../scripts/images_aggregate.py"


rule images_quality:
    input:
        model=images_model_input(),
        classifier=images_classifier_input(),
        held_out=IMG_HELD_OUT,
    output:
        table=f"{IMG_TABLES}/quality.parquet",
        csv=f"{IMG_TABLES}/quality.csv",
        samples=f"results/images/quality/{IMG_RUN}/samples.pt",
    log:
        f"logs/images/tables/{IMG_RUN}/quality.log",
    benchmark:
        f"logs/benchmarks/images/quality/{IMG_RUN}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=IMG_GPU,
    params:
        quality=IMG["quality"],
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        classifier=IMG_CLF["name"],
        device=IMG["device"],
        respaced_steps=IMG["respaced_steps"],
        batch_size=IMG["batch_size"],
        dataset=IMG_DS,
        model=IMG_MODEL["name"],
        seed=images_seed("samples"),
    script:
        "../scripts/images_quality.py"


rule images_fig_grid:
    input:
        shard=IMG_SHARD.format(shard=0),
        sweeps=expand(IMG_SWEEP, k=IMG_K, shard=0),
    output:
        png=report(
            f"{IMG_FIGURES}/grid.png",
            caption="../report/images/grid.rst",
            category="Images",
            subcategory=IMG_RUN,
        ),
        pdf=f"{IMG_FIGURES}/grid.pdf",
    log:
        f"logs/images/figures/{IMG_RUN}/grid.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_rows=IMG["grid_images"],
    script:
        "../scripts/images_fig_grid.py"


rule images_fig_class_kept:
    input:
        table=rules.images_aggregate.output.class_kept,
    output:
        png=report(
            f"{IMG_FIGURES}/class_kept.png",
            caption="../report/images/class_kept.rst",
            category="Images",
            subcategory=IMG_RUN,
        ),
        pdf=f"{IMG_FIGURES}/class_kept.pdf",
    log:
        f"logs/images/figures/{IMG_RUN}/class_kept.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_classes=IMG_N_CLASSES,
    script:
        "../scripts/images_fig_class_kept.py"


rule images_fig_layer_similarity:
    input:
        table=rules.images_aggregate.output.layer_similarity,
    output:
        png=report(
            f"{IMG_FIGURES}/layer_similarity.png",
            caption="../report/images/layer_similarity.rst",
            category="Images",
            subcategory=IMG_RUN,
        ),
        pdf=f"{IMG_FIGURES}/layer_similarity.pdf",
    log:
        f"logs/images/figures/{IMG_RUN}/layer_similarity.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/images_fig_layer_similarity.py"


rule images_fig_samples:
    input:
        samples=rules.images_quality.output.samples,
    output:
        png=report(
            f"{IMG_FIGURES}/samples.png",
            caption="../report/images/samples.rst",
            category="Images",
            subcategory=IMG_RUN,
        ),
        pdf=f"{IMG_FIGURES}/samples.pdf",
    log:
        f"logs/images/figures/{IMG_RUN}/samples.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        confidence=IMG["quality"]["confidence"],
    script:
        "../scripts/images_fig_samples.py"
