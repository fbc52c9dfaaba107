# Images branch: clean image shards (digits: cut from the held-out part of a training split)
# -> [digits: train a DDPM and a CNN on the split]
# -> classifier feature statistics on the clean images -> forward-backward sweeps, one job per
# (k, shard) -> per-shard class kept and layer similarities -> tidy tables -> one figure per rule.
# Beside the sweeps, change correlations of patches: n_traj runs per image, one job per (k, shard)
# of the first images -> per-image pair sums per embedding -> patch_correlations and
# patch_susceptibility -> one figure with the class-kept and layer-similarity curves.
# Same rules for the digits default and the ImageNet preset (the digits add the training split);
# only the config differs.


IMAGES = PLAN["images"]
IMG = IMAGES.config
IMG_MODEL, IMG_CLF, IMG_CORR = IMG["model"], IMG["classifier"], IMG["correlations"]


# On a cluster the trainings, feature statistics, sweeps, measurements and the quality check get
# jobs of their own (a sweep and the measurement of its output form one job: group
# images_sweep_measure, one per (k, shard)), as does reading ImageNet; the rest runs on the
# submitting node.
localrules:
    images_aggregate,
    images_corr_aggregate,


rule images:
    """Target: only the images branch (`snakemake images`)."""
    input:
        IMAGES.targets(),
    localrule: True


if IMG["data"]["kind"] == "digits":

    # The training split alone (the trainings read it): the sweep's size and sharding
    # (n_per_class, shard_size) are not its keys, so growing the sweep never retrains.
    rule images_split:
        output:
            train=IMAGES.TRAIN_SET,
            held_out=IMAGES.HELD_OUT,
            meta=[sidecar(IMAGES.TRAIN_SET), sidecar(IMAGES.HELD_OUT)],
        log:
            f"logs/images/split/{IMAGES.dataset}.log",
        # the bundled 8x8 digits: seconds on the submitting node
        localrule: True
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            mem_mb=lambda wildcards: IMAGES.mem_mb("split"),
            runtime=10,
        params:
            image_size=IMG["data"]["image_size"],
            upsample=IMG["data"]["upsample"],
            held_out_fraction=IMG["data"]["held_out_fraction"],
            seed=IMAGES.job_seed("split"),
        script:
            "../scripts/images_split_digits.py"

    # The sweep shards: cut from the held-out split, so no sweep image is a training image.
    rule images_data:
        input:
            held_out=IMAGES.HELD_OUT,
        output:
            shards=IMAGES.all_shards(),
            meta=[sidecar(path) for path in IMAGES.all_shards()],
        log:
            f"logs/images/data/{IMAGES.dataset}.log",
        localrule: True
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            # the held-out split, which the split's estimate bounds
            mem_mb=lambda wildcards: IMAGES.mem_mb("split"),
            runtime=10,
        params:
            image_size=IMG["data"]["image_size"],
            upsample=IMG["data"]["upsample"],
            held_out_fraction=IMG["data"]["held_out_fraction"],
            n_per_class=IMG["n_per_class"],
            seed=IMAGES.job_seed("split"),
        script:
            "../scripts/images_data_digits.py"

else:

    rule images_data:
        input:
            val_dir=IMG["data"]["imagenet"]["val_dir"],
            labels=IMG["data"]["imagenet"]["labels"] or [],
        output:
            shards=IMAGES.all_shards(),
            meta=[sidecar(path) for path in IMAGES.all_shards()],
        log:
            f"logs/images/data/{IMAGES.dataset}.log",
        benchmark:
            f"logs/benchmarks/images/data/{IMAGES.dataset}.tsv"
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("data")),
            runtime=per_attempt(120),
        params:
            image_size=IMG["data"]["image_size"],
            n_classes=IMG["data"]["imagenet"]["n_classes"],
            n_per_class=IMG["n_per_class"],
            seed=IMAGES.job_seed("split"),
        script:
            "../scripts/images_data_imagenet.py"


rule images_train_ddpm:
    input:
        train=IMAGES.TRAIN_SET,
    output:
        model=directory(IMAGES.TRAINED_MODEL),
        loss=f"{IMAGES.TRAINED_MODEL}.loss.parquet",
        loss_csv=f"{IMAGES.TRAINED_MODEL}.loss.csv",
        meta=sidecar(f"{IMAGES.TRAINED_MODEL}.loss.parquet"),
    log:
        f"logs/images/models/{IMAGES.dataset}/{IMG_MODEL['name']}.log",
    benchmark:
        f"logs/benchmarks/images/models/{IMAGES.dataset}/{IMG_MODEL['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["train_threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("train_model")),
        runtime=per_attempt(120),
    params:
        train=IMG_MODEL["train"],
        seed=IMAGES.job_seed("train", "ddpm"),
    script:
        "../scripts/images_train_ddpm.py"


rule images_train_classifier:
    input:
        train=IMAGES.TRAIN_SET,
        held_out=IMAGES.HELD_OUT,
    output:
        weights=IMAGES.TRAINED_CLF,
        weights_meta=sidecar(IMAGES.TRAINED_CLF),
        history=IMAGES.TRAINED_CLF.replace(".pt", "_history.parquet"),
        history_csv=IMAGES.TRAINED_CLF.replace(".pt", "_history.csv"),
        history_meta=sidecar(IMAGES.TRAINED_CLF.replace(".pt", "_history.parquet")),
    log:
        f"logs/images/classifiers/{IMAGES.dataset}/{IMG_CLF['name']}.log",
    benchmark:
        f"logs/benchmarks/images/classifiers/{IMAGES.dataset}/{IMG_CLF['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["train_threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("train_classifier")),
        runtime=per_attempt(30),
    params:
        train=IMG_CLF["train"],
        seed=IMAGES.job_seed("train", "classifier"),
    script:
        "../scripts/images_train_classifier.py"


rule images_stats:
    input:
        shards=IMAGES.all_shards(),
        classifier=IMAGES.classifier_input(),
    output:
        stats=IMAGES.STATS,
        meta=sidecar(IMAGES.STATS),
    log:
        f"logs/images/stats/{IMAGES.dataset}/{IMG_CLF['name']}.log",
    benchmark:
        f"logs/benchmarks/images/stats/{IMAGES.dataset}/{IMG_CLF['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("stats")),
        runtime=per_attempt(60),
    params:
        classifier=IMG_CLF["name"],
        batch_size=IMG["batch_size"],
    script:
        "../scripts/images_stats.py"


rule images_sweep:
    input:
        shard=IMAGES.SHARD,
        model=IMAGES.model_input(),
    output:
        sweep=IMAGES.SWEEP,
        meta=sidecar(IMAGES.SWEEP),
    log:
        f"logs/images/sweep/{IMAGES.dataset}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.log",
    benchmark:
        f"logs/benchmarks/images/sweep/{IMAGES.dataset}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.tsv"
    group:
        "images_sweep_measure"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("sweep")),
        runtime=per_attempt(240),
    params:
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        respaced_steps=IMG["respaced_steps"],
        batch_size=IMG["batch_size"],
        seed=IMAGES.job_seed("sweep"),
    script:
        "../scripts/images_sweep.py"


rule images_measure:
    input:
        shard=IMAGES.SHARD,
        sweep=IMAGES.SWEEP,
        stats=rules.images_stats.output.stats,
        classifier=IMAGES.classifier_input(),
    output:
        table=IMAGES.MEASURE,
        meta=sidecar(IMAGES.MEASURE),
    log:
        f"logs/images/measure/{IMAGES.run}/k{{k}}/shard{{shard}}.log",
    group:
        "images_sweep_measure"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("measure")),
        runtime=per_attempt(60),
    params:
        classifier=IMG_CLF["name"],
        batch_size=IMG["batch_size"],
    script:
        "../scripts/images_measure.py"


rule images_aggregate:
    input:
        shards=IMAGES.measure_shards(),
    output:
        class_kept=f"{IMAGES.TABLES}/class_kept.parquet",
        class_kept_csv=f"{IMAGES.TABLES}/class_kept.csv",
        layer_similarity=f"{IMAGES.TABLES}/layer_similarity.parquet",
        layer_similarity_csv=f"{IMAGES.TABLES}/layer_similarity.csv",
        class_kept_meta=sidecar(f"{IMAGES.TABLES}/class_kept.parquet"),
        layer_similarity_meta=sidecar(f"{IMAGES.TABLES}/layer_similarity.parquet"),
    log:
        f"logs/images/tables/{IMAGES.run}/aggregate.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=IMAGES.dataset,
        model=IMG_MODEL["name"],
        classifier=IMG_CLF["name"],
    script:
        "../scripts/images_aggregate.py"


rule images_quality:
    input:
        model=IMAGES.model_input(),
        classifier=IMAGES.classifier_input(),
        held_out=IMAGES.HELD_OUT,
    output:
        table=f"{IMAGES.TABLES}/quality.parquet",
        csv=f"{IMAGES.TABLES}/quality.csv",
        meta=sidecar(f"{IMAGES.TABLES}/quality.parquet"),
        samples=IMAGES.QUALITY_SAMPLES,
        samples_meta=sidecar(IMAGES.QUALITY_SAMPLES),
    log:
        f"logs/images/tables/{IMAGES.run}/quality.log",
    benchmark:
        f"logs/benchmarks/images/quality/{IMAGES.run}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("quality")),
        runtime=per_attempt(60),
    params:
        quality=IMG["quality"],
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        classifier=IMG_CLF["name"],
        respaced_steps=IMG["respaced_steps"],
        batch_size=IMG["batch_size"],
        dataset=IMAGES.dataset,
        model=IMG_MODEL["name"],
        seed=IMAGES.job_seed("samples"),
    script:
        "../scripts/images_quality.py"


rule images_corr_sweep:
    input:
        unpack(IMAGES.corr_inputs),
        shards=IMAGES.corr_sources,
        model=IMAGES.model_input(),
    output:
        table=IMAGES.CORR_SHARD,
        meta=sidecar(IMAGES.CORR_SHARD),
    log:
        f"logs/images/correlations/{IMAGES.run}/k{{k}}/shard{{shard}}.log",
    benchmark:
        f"logs/benchmarks/images/correlations/{IMAGES.run}/k{{k}}/shard{{shard}}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        **gpu_resources(workflow, IMAGES.gpu),
        mem_mb=per_attempt(lambda wildcards: IMAGES.mem_mb("correlations")),
        runtime=per_attempt(240),
    params:
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        respaced_steps=IMG["respaced_steps"],
        batch_size=IMG_CORR["batch_size"] or IMG["batch_size"],
        image_size=IMG["data"]["image_size"],
        classifier=IMG_CLF["name"],
        n_traj=IMG_CORR["n_traj"],
        embeddings=IMG_CORR["embeddings"],
        bounds=IMAGES.corr_range,
        first=IMAGES.corr_first,
        seed=IMAGES.job_seed("correlations"),
    script:
        "../scripts/images_corr_sweep.py"


rule images_corr_aggregate:
    input:
        shards=IMAGES.corr_shard_files(),
    output:
        correlations=f"{IMAGES.TABLES}/patch_correlations.parquet",
        correlations_csv=f"{IMAGES.TABLES}/patch_correlations.csv",
        susceptibility=f"{IMAGES.TABLES}/patch_susceptibility.parquet",
        susceptibility_csv=f"{IMAGES.TABLES}/patch_susceptibility.csv",
        correlations_meta=sidecar(f"{IMAGES.TABLES}/patch_correlations.parquet"),
        susceptibility_meta=sidecar(f"{IMAGES.TABLES}/patch_susceptibility.parquet"),
    log:
        f"logs/images/tables/{IMAGES.run}/corr_aggregate.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=IMAGES.dataset,
        model=IMG_MODEL["name"],
        classifier=IMG_CLF["name"],
        n_boot=IMG_CORR["n_boot"],
        confidence=IMG_CORR["confidence"],
        seed=IMAGES.job_seed("correlations", "bootstrap"),
    script:
        "../scripts/images_corr_aggregate.py"
