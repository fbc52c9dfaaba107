# Grammar branch: probabilistic context-free grammars, denoised exactly by inside-outside, beside an
# HMM control. Per experiment: grammar -> sentences of each length with their trees, and the HMM
# fitted to the grammar's sentences -> one shard per (model, length, process, noise value): kept
# table, change correlations, co-changes against the true constituents -> pooled tables and the
# finite-size table -> figures. Only the shards and the HMM's fit go to a cluster.


GRAMMAR = PLAN["grammar"]


rule grammar:
    """Target: only the grammar branch (`snakemake grammar`)."""
    input:
        GRAMMAR.targets(),
    localrule: True


localrules:
    grammar_grammar,
    grammar_sentences,
    grammar_aggregate,
    grammar_finite_size,


rule grammar_grammar:
    input:
        unpack(GRAMMAR.grammar_input),
    output:
        grammar=GRAMMAR.GRAMMAR,
        meta=sidecar(GRAMMAR.GRAMMAR),
    log:
        "logs/grammar/grammar/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        source=GRAMMAR.param("source"),
        settings=GRAMMAR.grammar_settings,
        lengths=GRAMMAR.param("lengths"),
        seed=GRAMMAR.job_seed("grammar"),
    script:
        "../scripts/grammar_grammar.py"


rule grammar_sentences:
    input:
        grammar=rules.grammar_grammar.output.grammar,
    output:
        sentences=GRAMMAR.SENTENCES,
        meta=sidecar(GRAMMAR.SENTENCES),
    log:
        "logs/grammar/sentences/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        lengths=GRAMMAR.param("lengths"),
        n_sentences=GRAMMAR.param("n_sentences"),
        seed=GRAMMAR.job_seed("sentences"),
    script:
        "../scripts/grammar_sentences.py"


rule grammar_hmm:
    input:
        grammar=rules.grammar_grammar.output.grammar,
    output:
        hmm=GRAMMAR.HMM,
        meta=sidecar(GRAMMAR.HMM),
    log:
        "logs/grammar/hmm/{experiment}.log",
    benchmark:
        "logs/benchmarks/grammar/hmm/{experiment}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(GRAMMAR.hmm_mem_mb),
        runtime=per_attempt(60),
    params:
        length=GRAMMAR.largest_length,
        fit=GRAMMAR.control_fit,
        seed=GRAMMAR.job_seed("hmm"),
    script:
        "../scripts/grammar_hmm.py"


rule grammar_shard:
    input:
        unpack(GRAMMAR.shard_input),
    output:
        **GRAMMAR.shard_outputs(),
    log:
        "logs/grammar/shards/{experiment}/{model}/n{n}/{process}/noise{noise}.log",
    benchmark:
        "logs/benchmarks/grammar/shards/{experiment}/{model}/n{n}/{process}/noise{noise}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(GRAMMAR.shard_mem_mb),
        runtime=per_attempt(GRAMMAR.shard_runtime),
    params:
        level=GRAMMAR.level,
        correlations=GRAMMAR.param("correlations"),
        seed=GRAMMAR.job_seed("shard"),
    script:
        "../scripts/grammar_shard.py"


rule grammar_aggregate:
    input:
        **{t: GRAMMAR.shard_files(t) for t in GRAMMAR.SHARD_TABLES},
    output:
        **GRAMMAR.table_outputs(GRAMMAR.SHARD_TABLES),
    log:
        "logs/grammar/aggregate/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/grammar_aggregate.py"


rule grammar_finite_size:
    input:
        kept=rules.grammar_aggregate.output.kept,
    output:
        **GRAMMAR.table_outputs(GRAMMAR.FINITE_SIZE_TABLES),
    log:
        "logs/grammar/finite_size/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_classes=GRAMMAR.n_classes,
    script:
        "../scripts/grammar_finite_size.py"


rule grammar_phase_diagram:
    input:
        kept=GRAMMAR.experiment_tables("kept"),
        grammars=GRAMMAR.experiment_files(GRAMMAR.GRAMMAR),
        sentences=GRAMMAR.experiment_files(GRAMMAR.SENTENCES),
    output:
        **GRAMMAR.phase_outputs(),
    log:
        "logs/grammar/phase_diagram.log",
    localrule: True
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **GRAMMAR.phase_params(),
    script:
        "../scripts/grammar_phase_diagram.py"
