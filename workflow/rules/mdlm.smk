# MDLM branch: masked diffusion language models. Grammar: a random PCFG and its sentences -> one
# MDLM per training-set size P -> a masking sweep per denoiser (each MDLM, the exact posterior) on
# the same noisy sentences -> pooled tables and the gap to exact -> figures. Text: corpus,
# tokenizer and passages -> an MDLM -> the follow-up's protocol for the MDLM, the shuffled passages
# and the n-gram control (and a published checkpoint) -> pooled tables and peaks -> figures.
# The trainings, sweeps and protocols go to a cluster.


MDLM = PLAN["mdlm"]


rule mdlm:
    """Target: only the MDLM branch (`snakemake mdlm`)."""
    input:
        MDLM.targets(),
    localrule: True


localrules:
    mdlm_grammar_data,
    mdlm_grammar_aggregate,
    mdlm_text_data,
    mdlm_text_aggregate,


rule mdlm_grammar_data:
    output:
        data=MDLM.GRAMMAR_DATA,
        meta=sidecar(MDLM.GRAMMAR_DATA),
    log:
        "logs/mdlm/grammar/data.log",
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        random=MDLM.config["grammar"]["random"],
        length=MDLM.config["grammar"]["length"],
        n_train=MDLM.config["grammar"]["n_train"],
        n_test=MDLM.config["grammar"]["n_test"],
        seed=MDLM.job_seed("grammar_data"),
    script:
        "../scripts/mdlm_grammar_data.py"


rule mdlm_grammar_train:
    input:
        data=rules.mdlm_grammar_data.output.data,
    output:
        model=f"{MDLM.GRAMMAR_MODEL}/model.pt",
        loss=f"{MDLM.GRAMMAR_MODEL}/loss.parquet",
        loss_csv=f"{MDLM.GRAMMAR_MODEL}/loss.csv",
        meta=sidecar(f"{MDLM.GRAMMAR_MODEL}/loss.parquet"),
    log:
        "logs/mdlm/grammar/train/P{P}.log",
    benchmark:
        "logs/benchmarks/mdlm/grammar/train/P{P}.tsv"
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, MDLM.config["resources"]["gpus"]),
        mem_mb=per_attempt(MDLM.train_grammar_mem_mb),
        runtime=per_attempt(MDLM.config["resources"]["train_runtime"]),
    params:
        network=MDLM.config["grammar"]["network"],
        training=MDLM.config["grammar"]["training"],
        seed=MDLM.job_seed("grammar_train"),
    script:
        "../scripts/mdlm_grammar_train.py"


rule mdlm_grammar_sweep:
    input:
        unpack(MDLM.sweep_input),
    output:
        **MDLM.outputs(MDLM.GRAMMAR_SWEEP, MDLM.GRAMMAR_TABLES, csv=False),
    log:
        "logs/mdlm/grammar/sweep/{denoiser}.log",
    benchmark:
        "logs/benchmarks/mdlm/grammar/sweep/{denoiser}.tsv"
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, MDLM.config["resources"]["gpus"]),
        mem_mb=per_attempt(MDLM.sweep_mem_mb),
        runtime=per_attempt(MDLM.config["resources"]["sweep_runtime"]),
    params:
        P=MDLM.sweep_P,
        levels=MDLM.config["grammar"]["levels"],
        correlations=MDLM.config["grammar"]["correlations"],
        sampler=MDLM.config["grammar"]["sampler"],
        seed=MDLM.job_seed("grammar_sweep"),
    script:
        "../scripts/mdlm_grammar_sweep.py"


rule mdlm_grammar_aggregate:
    input:
        **{t: MDLM.sweep_files(t) for t in MDLM.GRAMMAR_TABLES},
    output:
        **MDLM.outputs(MDLM.GRAMMAR_TABLES_DIR, (*MDLM.GRAMMAR_TABLES, "gap")),
    log:
        "logs/mdlm/grammar/aggregate.log",
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        acceptance=MDLM.config["grammar"]["acceptance"],
    script:
        "../scripts/mdlm_grammar_aggregate.py"


rule mdlm_text_data:
    input:
        unpack(MDLM.text_input),
    output:
        data=MDLM.TEXT_DATA,
        meta=sidecar(MDLM.TEXT_DATA),
        tokenizer=MDLM.TOKENIZER,
    log:
        "logs/mdlm/text/data.log",
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        tokenizer=MDLM.config["text"]["tokenizer"],
        holdout=MDLM.config["text"]["holdout"],
        n_passages=MDLM.config["text"]["n_passages"],
        length=MDLM.config["text"]["length"],
        seed=MDLM.job_seed("text_data"),
    script:
        "../scripts/mdlm_text_data.py"


rule mdlm_text_train:
    input:
        data=rules.mdlm_text_data.output.data,
    output:
        model=f"{MDLM.TEXT_MODEL}/model.pt",
        loss=f"{MDLM.TEXT_MODEL}/loss.parquet",
        loss_csv=f"{MDLM.TEXT_MODEL}/loss.csv",
        meta=sidecar(f"{MDLM.TEXT_MODEL}/loss.parquet"),
    log:
        "logs/mdlm/text/train.log",
    benchmark:
        "logs/benchmarks/mdlm/text/train.tsv"
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, MDLM.config["resources"]["gpus"]),
        mem_mb=per_attempt(MDLM.train_text_mem_mb),
        runtime=per_attempt(MDLM.config["resources"]["train_runtime"]),
    params:
        network=MDLM.config["text"]["network"],
        training=MDLM.config["text"]["training"],
        seed=MDLM.job_seed("text_train"),
    script:
        "../scripts/mdlm_text_train.py"


rule mdlm_text_protocol:
    input:
        unpack(MDLM.protocol_input),
    output:
        **MDLM.outputs(MDLM.TEXT_PROTOCOL, MDLM.TEXT_TABLES, csv=False),
    log:
        "logs/mdlm/text/protocol/{textmodel}.log",
    benchmark:
        "logs/benchmarks/mdlm/text/protocol/{textmodel}.tsv"
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, MDLM.config["resources"]["gpus"]),
        mem_mb=per_attempt(MDLM.protocol_mem_mb),
        runtime=per_attempt(MDLM.config["resources"]["sweep_runtime"]),
    params:
        levels=MDLM.config["text"]["levels"],
        n_maskings=MDLM.config["text"]["n_maskings"],
        cutoffs=MDLM.cutoffs,
        n_boot=MDLM.config["text"]["n_boot"],
        ngram=MDLM.config["text"]["ngram"],
        sampler=MDLM.config["text"]["sampler"],
        seed=MDLM.job_seed("text_protocol"),
    script:
        "../scripts/mdlm_text_protocol.py"


rule mdlm_published_protocol:
    input:
        unpack(MDLM.published_input),
    output:
        **MDLM.outputs(MDLM.PUBLISHED, MDLM.TEXT_TABLES, csv=False),
    log:
        "logs/mdlm/published/protocol.log",
    benchmark:
        "logs/benchmarks/mdlm/published/protocol.tsv"
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, MDLM.config["resources"]["gpus"]),
        mem_mb=per_attempt(MDLM.published_mem_mb),
        runtime=per_attempt(MDLM.config["resources"]["sweep_runtime"]),
    params:
        published=MDLM.config["published"],
        levels=MDLM.config["text"]["levels"],
        n_maskings=MDLM.config["text"]["n_maskings"],
        cutoffs=MDLM.cutoffs,
        n_boot=MDLM.config["text"]["n_boot"],
        sampler=MDLM.config["text"]["sampler"],
        seed=MDLM.job_seed("published"),
    script:
        "../scripts/mdlm_published_protocol.py"


rule mdlm_text_aggregate:
    input:
        **{t: MDLM.protocol_files(t) for t in MDLM.TEXT_TABLES},
    output:
        **MDLM.outputs(MDLM.TEXT_TABLES_DIR, (*MDLM.TEXT_TABLES, "peaks")),
    log:
        "logs/mdlm/text/aggregate.log",
    conda:
        "../../envs/mdlm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/mdlm_text_aggregate.py"
