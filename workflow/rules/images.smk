# Images branch: clean image shards -> [digits: train a DDPM and a CNN]
# -> classifier feature statistics on the clean images -> forward-backward sweeps, one job per
# (k, shard) -> per-shard class kept and layer similarities -> tidy tables -> one figure per rule.
# Beside the sweeps, change correlations of patches: n_traj runs per image, one job per (k, shard)
# of the first images -> per-image pair sums per embedding -> patch_correlations and
# patch_susceptibility -> one figure with the class-kept and layer-similarity curves.
# Same rules for the digits default and the ImageNet preset; only the config differs.


include: "images_common.smk"


# On a cluster the trainings, feature statistics, sweeps, measurements and the quality check get
# jobs of their own (a sweep and the measurement of its output form one job: group
# images_sweep_measure, one per (k, shard)), as does reading ImageNet; the rest runs on the
# submitting node.
localrules:
    images_aggregate,
    images_fig_grid,
    images_fig_class_kept,
    images_fig_layer_similarity,
    images_fig_samples,
    images_corr_aggregate,
    images_fig_correlations,


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
            meta=[
                sidecar(path)
                for path in expand(IMG_SHARD, shard=IMG_SHARDS)
                + [IMG_TRAIN_SET, IMG_HELD_OUT]
            ],
        log:
            f"logs/images/data/{IMG_DS}.log",
        # the bundled 8x8 digits: seconds on the submitting node
        localrule: True
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            image_size=IMG_DATA["image_size"],
            upsample=IMG_DATA["upsample"],
            held_out_fraction=IMG_DATA["held_out_fraction"],
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
            meta=[sidecar(path) for path in expand(IMG_SHARD, shard=IMG_SHARDS)],
        log:
            f"logs/images/data/{IMG_DS}.log",
        benchmark:
            f"logs/benchmarks/images/data/{IMG_DS}.tsv"
        conda:
            "../../envs/images.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(8000),
            runtime=per_attempt(120),
        params:
            image_size=IMG_DATA["image_size"],
            n_classes=IMG_DATA["imagenet"]["n_classes"],
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
        meta=sidecar(f"{IMG_TRAINED_MODEL}.loss.parquet"),
    log:
        f"logs/images/models/{IMG_DS}/{IMG_MODEL['name']}.log",
    benchmark:
        f"logs/benchmarks/images/models/{IMG_DS}/{IMG_MODEL['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["train_threads"]
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
        gpu=IMG_GPU,
    params:
        train=IMG_MODEL["train"],
        seed=images_seed("train", "ddpm"),
    script:
        "../scripts/images_train_ddpm.py"


rule images_train_classifier:
    input:
        train=IMG_TRAIN_SET,
        held_out=IMG_HELD_OUT,
    output:
        weights=IMG_TRAINED_CLF,
        weights_meta=sidecar(IMG_TRAINED_CLF),
        history=IMG_TRAINED_CLF.replace(".pt", "_history.parquet"),
        history_csv=IMG_TRAINED_CLF.replace(".pt", "_history.csv"),
        history_meta=sidecar(IMG_TRAINED_CLF.replace(".pt", "_history.parquet")),
    log:
        f"logs/images/classifiers/{IMG_DS}/{IMG_CLF['name']}.log",
    benchmark:
        f"logs/benchmarks/images/classifiers/{IMG_DS}/{IMG_CLF['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["train_threads"]
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
        gpu=IMG_GPU,
    params:
        train=IMG_CLF["train"],
        seed=images_seed("train", "classifier"),
    script:
        "../scripts/images_train_classifier.py"


rule images_stats:
    input:
        shards=expand(IMG_SHARD, shard=IMG_SHARDS),
        classifier=images_classifier_input(),
    output:
        stats=f"results/images/stats/{IMG_DS}/{IMG_CLF['name']}/stats.pt",
        meta=sidecar(f"results/images/stats/{IMG_DS}/{IMG_CLF['name']}/stats.pt"),
    log:
        f"logs/images/stats/{IMG_DS}/{IMG_CLF['name']}.log",
    benchmark:
        f"logs/benchmarks/images/stats/{IMG_DS}/{IMG_CLF['name']}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
        gpu=IMG_GPU,
    params:
        classifier=IMG_CLF["name"],
        batch_size=IMG["batch_size"],
    script:
        "../scripts/images_stats.py"


rule images_sweep:
    input:
        shard=IMG_SHARD,
        model=images_model_input(),
    output:
        sweep=IMG_SWEEP,
        meta=sidecar(IMG_SWEEP),
    log:
        f"logs/images/sweep/{IMG_DS}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.log",
    benchmark:
        f"logs/benchmarks/images/sweep/{IMG_DS}/{IMG_MODEL['name']}/k{{k}}/shard{{shard}}.tsv"
    group:
        "images_sweep_measure"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
        gpu=IMG_GPU,
    params:
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
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
        meta=sidecar(IMG_MEASURE),
    log:
        f"logs/images/measure/{IMG_RUN}/k{{k}}/shard{{shard}}.log",
    group:
        "images_sweep_measure"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
        gpu=IMG_GPU,
    params:
        classifier=IMG_CLF["name"],
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
        class_kept_meta=sidecar(f"{IMG_TABLES}/class_kept.parquet"),
        layer_similarity_meta=sidecar(f"{IMG_TABLES}/layer_similarity.parquet"),
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
        meta=sidecar(f"{IMG_TABLES}/quality.parquet"),
        samples=f"results/images/quality/{IMG_RUN}/samples.pt",
        samples_meta=sidecar(f"results/images/quality/{IMG_RUN}/samples.pt"),
    log:
        f"logs/images/tables/{IMG_RUN}/quality.log",
    benchmark:
        f"logs/benchmarks/images/quality/{IMG_RUN}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=IMG_GPU,
    params:
        quality=IMG["quality"],
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        classifier=IMG_CLF["name"],
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


rule images_corr_sweep:
    input:
        unpack(images_corr_inputs),
        shards=images_corr_sources,
        model=images_model_input(),
    output:
        table=IMG_CORR_SHARD,
        meta=sidecar(IMG_CORR_SHARD),
    log:
        f"logs/images/correlations/{IMG_RUN}/k{{k}}/shard{{shard}}.log",
    benchmark:
        f"logs/benchmarks/images/correlations/{IMG_RUN}/k{{k}}/shard{{shard}}.tsv"
    conda:
        "../../envs/images.yaml"
    threads: IMG["threads"]
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
        gpu=IMG_GPU,
    params:
        kind=IMG_MODEL["kind"],
        adm_flags=IMG_MODEL["adm_flags"],
        dtype=IMG_MODEL["dtype"],
        respaced_steps=IMG["respaced_steps"],
        batch_size=IMG_CORR["batch_size"] or IMG["batch_size"],
        image_size=IMG_DATA["image_size"],
        classifier=IMG_CLF["name"],
        n_traj=IMG_CORR["n_traj"],
        embeddings=IMG_CORR["embeddings"],
        bounds=images_corr_range,
        first=images_corr_first,
        seed=images_seed("correlations"),
    script:
        "../scripts/images_corr_sweep.py"


rule images_corr_aggregate:
    input:
        shards=expand(IMG_CORR_SHARD, k=IMG_CORR_K, shard=IMG_CORR_SHARDS),
    output:
        correlations=f"{IMG_TABLES}/patch_correlations.parquet",
        correlations_csv=f"{IMG_TABLES}/patch_correlations.csv",
        susceptibility=f"{IMG_TABLES}/patch_susceptibility.parquet",
        susceptibility_csv=f"{IMG_TABLES}/patch_susceptibility.csv",
        correlations_meta=sidecar(f"{IMG_TABLES}/patch_correlations.parquet"),
        susceptibility_meta=sidecar(f"{IMG_TABLES}/patch_susceptibility.parquet"),
    log:
        f"logs/images/tables/{IMG_RUN}/corr_aggregate.log",
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
        n_boot=IMG_CORR["n_boot"],
        confidence=IMG_CORR["confidence"],
        seed=images_seed("correlations", "bootstrap"),
    script:
        "../scripts/images_corr_aggregate.py"


rule images_fig_correlations:
    input:
        class_kept=rules.images_aggregate.output.class_kept,
        layer_similarity=rules.images_aggregate.output.layer_similarity,
        susceptibility=rules.images_corr_aggregate.output.susceptibility,
    output:
        png=report(
            f"{IMG_FIGURES}/correlations.png",
            caption="../report/images/correlations.rst",
            category="Images",
            subcategory=IMG_RUN,
        ),
        pdf=f"{IMG_FIGURES}/correlations.pdf",
    log:
        f"logs/images/figures/{IMG_RUN}/correlations.log",
    conda:
        "../../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_classes=IMG_N_CLASSES,
    script:
        "../scripts/images_fig_correlations.py"
