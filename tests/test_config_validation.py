"""Config validation: every bad value is refused before any job runs, with the key named.

Each case is an overlay merged over config.yaml, the way a user adds ``--configfile``. Every case
goes through the planning module (:func:`hierphase.plan.load_plan_files`, what the Snakefile calls)
in this process, without Snakemake: the module fixture collects one verdict per case ("ok" or the
error), the tests check them. A handful of the same cases also run end to end as Snakemake dry runs
(slow tier, :func:`_dry_runs` in one Python process through Snakemake's API), and the memory limit
of local runs needs a real (not dry) run: its own slow test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, SMOKE, copy_workflow, run_snakemake, snakemake_env

from hierphase.io import read_yaml_strict
from hierphase.plan import load_plan_files

#: An RHM and a learned experiment that pass every check, for cases that add one under a new name.
RHM_EXP = "{v: 8, m: 3, L: [2], processes: {epsilon: [{values: [0.5]}]}}"
LEARNED_EXP = "{v: 8, m: 3, s: 2, L: 3, processes: [masking], P: [64]}"
#: A grammar experiment that passes every check.
GRAMMAR_EXP = "{lengths: [8], processes: {epsilon: [0.5]}}"


def nested(key: str, value: str) -> str:
    """Flow-style YAML setting the dotted ``key`` to the YAML text ``value``."""
    for part in reversed(key.split(".")):
        value = f"{{{json.dumps(part)}: {value}}}"
    return value


def at(case: str, key: str, value: str) -> tuple[str, str, str]:
    """A case setting the dotted ``key`` to the YAML text ``value``, refused naming that key."""
    return case, nested(key, value), key


#: (case, overlay YAML, key the error must name)
BAD: list[tuple[str, str, str]] = [
    # unknown keys, at every depth
    ("top-level-typo", "sed: 1", "sed"),
    at("rhm-typo", "rhm.experiments.main.bach_size", "10"),
    at("learned-training-step", "learned.training.step", "3"),
    at("learned-n-sweeps", "learned.evaluation.n_sweeps", "3"),
    at("learned-grid-maskin", "learned.evaluation.grid.maskin", "[0.5]"),
    at("learned-resources-gpu", "learned.resources.gpu", "1"),
    at("learned-schedule-typo", "learned.schedule.beta", "0.1"),
    at("learned-network-typo", "learned.network.depth", "2"),
    at("learned-sampling-typo", "learned.sampling.steps.mask", "2"),
    at("learned-experiment-typo", "learned.experiments.main.rule_seeds", "[0]"),
    at("images-train-typo", "images.model.train.stepz", "2"),
    at("images-adm-flag-typo", "images.model.adm_flags.num_chanels", "2"),
    # bounds
    at("learned-v-absurd", "learned.experiments.main.v", "100000"),
    at("learned-L-unbounded", "learned.experiments.main.L", "40"),
    ("learned-P-unbounded", nested("learned.experiments.main.P", "[100000000000]"),
     "learned.experiments.main.P.0"),
    at("rhm-batch-size-huge", "rhm.experiments.main.batch_size", "1000000000000"),
    at("rhm-n-samples-huge", "rhm.experiments.main.n_samples", "100000000"),
    at("images-n-per-class-huge", "images.n_per_class", "100000000"),
    at("learned-tolerance", "learned.evaluation.tolerance", "2.0"),
    at("learned-curve-typo", "learned.learning_curve.snapshot", "3"),
    at("learned-curve-negative", "learned.learning_curve.snapshots", "-1"),
    ("learned-curve-threshold", nested("learned.learning_curve.thresholds", "[1.0]"),
     "learned.learning_curve.thresholds.0"),
    at("learned-time-focus-process", "learned.training.time_focus.gausian", "{weight: 0.5}"),
    at("learned-time-focus-weight", "learned.training.time_focus.gaussian.weight", "1.5"),
    at("learned-time-conditioning", "learned.network.time_conditioning", "'no'"),
    # constraints between keys, through the package's validators
    at("rhm-m", "rhm.experiments.main.m", "100"),
    at("rhm-n-classes", "rhm.experiments.main.n_classes", "1000"),
    at("rhm-levels-L", "rhm.experiments.main.levels_L", "12"),
    at("learned-m", "learned.experiments.main.m", "10"),
    ("learned-n-classes", "learned: {experiments: {main: {m: 8, n_classes: 9}}}",
     "learned.experiments.main.n_classes"),
    ("learned-betas", "learned: {schedule: {beta_start: 0.02, beta_end: 0.0001}}",
     "learned.schedule.beta_start"),
    ("rhm-betas", "rhm: {schedule: {beta_start: 0.02, beta_end: 0.0001}}",
     "rhm.schedule.beta_start"),
    ("learned-warmup", "learned: {training: {steps: 50, warmup: 100}}", "learned.training.warmup"),
    at("images-n-per-class-held-out", "images.n_per_class", "36"),
    at("images-k-grid", "images.k_grid", "[0, 200]"),
    ("images-warmup", "images: {model: {train: {steps: 50, warmup: 100}}}", "images.model.train.warmup"),
    # change correlations: their depths, data and memory
    ("corr-required", nested("rhm.experiments", "{tiny: {v: 8, m: 3, L: [2], processes: "
                             "{epsilon: [{values: [0.5]}]}, correlations: {n_x0: 2}}}"),
     "rhm.experiments.tiny.correlations.L"),
    at("corr-typo", "rhm.experiments.main.correlations.n_trajs", "10"),
    at("corr-depth", "rhm.experiments.main.correlations.L", "[9]"),
    at("corr-rule-seeds", "rhm.experiments.main.correlations.rule_seeds", "[3]"),
    at("corr-n-x0", "rhm.experiments.main.correlations.n_x0", "1000"),
    at("corr-n-traj-one", "rhm.experiments.main.correlations.n_traj", "1"),
    at("code-d-not-power-of-two", "rhm.controls.random_code.d", "[8, 12]"),
    at("code-too-many-codewords", "rhm.controls.random_code.d", "[4096]"),
    at("code-flip-noise-one", "rhm.controls.random_code.flip_noise", "1.0"),
    at("code-masking", "rhm.controls.random_code.processes.masking", "[{values: [0.5]}]"),
    at("permuted-experiment", "rhm.controls.permuted_rhm.experiment", "nope"),
    at("permuted-depth", "rhm.controls.permuted_rhm.L", "9"),
    at("permuted-rule-seed", "rhm.controls.permuted_rhm.rule_seed", "5"),
    at("permuted-n-x0", "rhm.controls.permuted_rhm.n_x0", "100000"),
    # depth estimate: an experiment with correlations, calibration RHMs it measures, some left
    at("depth-experiment", "rhm.depth_estimate.experiment", "nope"),
    at("depth-calibration-depth", "rhm.depth_estimate.calibration.L", "[5, 12]"),
    at("depth-calibration-draw", "rhm.depth_estimate.calibration.rule_seeds", "[7]"),
    at("depth-one-calibration-depth", "rhm.depth_estimate.calibration.L", "[5]"),
    at("depth-feature", "rhm.depth_estimate.feature", "depth"),
    ("depth-nothing-held-out",
     "rhm: {depth_estimate: {calibration: {L: [5, 6, 7, 8, 9, 10], rule_seeds: [0, 1, 2]}}}",
     "rhm.depth_estimate.calibration"),
    at("population-depths-not-a-list", "rhm.population.depths", "8"),
    ("corr-memory", "{max_mem_mb: 8000, "
     + nested("rhm.experiments.main.correlations.n_traj", "100000")[1:],
     "rhm.experiments.main.correlations.n_traj"),
    ("corr-process", nested("rhm.experiments.main.correlations.processes", "{gauss: [{values: [0.5]}]}"),
     "rhm.experiments.main.correlations.processes.gauss"),
    ("corr-grid", nested("rhm.experiments.main.correlations.processes.epsilon", "[{values: [1.5]}]"),
     "rhm.experiments.main.correlations.processes.epsilon.0"),
    # finite-size scaling: experiments that exist, processes they sweep, three depths to fit
    at("fss-typo", "rhm.finite_size_scaling.Lmin", "3"),
    at("fss-experiment", "rhm.finite_size_scaling.experiments", "[mian]"),
    ("fss-process-name", nested("rhm.finite_size_scaling.processes", "[maskin]"),
     "rhm.finite_size_scaling.processes.0"),
    ("fss-process-not-swept", nested("rhm.finite_size_scaling.experiments", "[no_transition]"),
     "rhm.finite_size_scaling.processes"),
    at("fss-L-min-too-large", "rhm.finite_size_scaling.L_min", "9"),
    at("fss-two-depths", "rhm.finite_size_scaling.L_min", "7"),
    ("fss-L-max-two-depths", "rhm: {finite_size_scaling: {L_min: 3, L_max: 4}}",
     "rhm.finite_size_scaling.L_max"),
    ("fss-L-max-below-L-min", "rhm: {finite_size_scaling: {L_min: 5, L_max: 4}}",
     "rhm.finite_size_scaling.L_max"),
    at("fss-L-min-zero", "rhm.finite_size_scaling.L_min", "0"),
    # memory derived from the config, against max_mem_mb (default 64000)
    # the phase diagram: legal RHMs at every point and depth, enough grid, one set of depths
    ("phase-m-above-v", nested("rhm.phase_diagram.grids", "[{s: 2, v: [4, 8], m: [6], L: [2, 3]}]"),
     "rhm.phase_diagram.grids.0.m"),
    ("phase-v-one", nested("rhm.phase_diagram.grids", "[{s: 2, v: [1], m: all, L: [2, 3]}]"),
     "rhm.phase_diagram.grids.0.v.0"),
    at("phase-grids-empty", "rhm.phase_diagram.grids", "[]"),
    ("phase-one-depth", nested("rhm.phase_diagram.grids", "[{s: 2, v: [4], m: all, L: [4]}]"),
     "rhm.phase_diagram.grids.0.L"),
    ("phase-depth-one", nested("rhm.phase_diagram.grids", "[{s: 2, v: [4], m: all, L: [1, 2]}]"),
     "rhm.phase_diagram.grids.0.L.0"),
    ("phase-m-word", nested("rhm.phase_diagram.grids", "[{s: 2, v: [4], m: some, L: [2, 3]}]"),
     "rhm.phase_diagram.grids.0.m"),
    ("phase-v-empty", nested("rhm.phase_diagram.grids", "[{s: 2, v: [], m: all, L: [2, 3]}]"),
     "rhm.phase_diagram.grids.0.v"),
    ("phase-point-twice", nested("rhm.phase_diagram.grids", "[{s: 2, v: [4], m: all, L: [2, 3]}, "
                                 "{s: 2, v: [4], m: [2], L: [2, 4]}]"),
     "rhm.phase_diagram.grids.1.L"),
    at("phase-eps-short", "rhm.phase_diagram.eps", "[{values: [0.2, 0.5]}]"),
    at("phase-n-classes", "rhm.phase_diagram.n_classes", "100"),
    ("phase-memory", nested("rhm.phase_diagram.grids", "[{s: 2, v: [4096], m: [2], L: [2, 20]}]"),
     "rhm.phase_diagram.batch_size"),
    ("rhm-memory-batch", nested("rhm.experiments.main.L", "[20]"), "rhm.experiments.main.batch_size"),
    ("rhm-memory-depth", "{max_mem_mb: 20000, rhm: {experiments: {main: {v: 4096, m: 8, L: [20], "
     "n_samples: 10}}}}",
     "rhm.experiments.main.L"),
    ("rhm-memory-ceiling", "max_mem_mb: 1030", "rhm.experiments.main.batch_size"),
    at("learned-memory-P", "learned.experiments.main.P", "[1000000000]"),
    # a batch above the data it samples is the data: a large batch with large sweeps
    ("learned-memory-batch", "{max_mem_mb: 3000, rhm: {enabled: false}, images: {enabled: "
     "false}, learned: {sampling: {batch_size: 1000000}, evaluation: {n_sweep: 1000000}}}",
     "learned.sampling.batch_size"),
    ("learned-memory-reference", "{max_mem_mb: 3000, rhm: {enabled: false}, images: {enabled: "
     "false}, learned: {evaluation: {n_sweep: 10000000}, sampling: {batch_size: 1}}}",
     "learned.evaluation.n_sweep"),
    at("learned-memory-correlations", "learned.correlations.n_traj", "10000000"),
    ("learned-memory-generated", "{max_mem_mb: 3000, rhm: {enabled: false}, images: {enabled: "
     "false}, learned: {evaluation: {n_generated: 10000000}}}", "learned.evaluation.n_generated"),
    ("learned-memory-curve", "{max_mem_mb: 3000, rhm: {enabled: false}, images: {enabled: "
     "false}, learned: {learning_curve: {n_generated: 10000000}}}",
     "learned.learning_curve.n_generated"),
    # patch correlations of the images branch
    at("corr-n-images", "images.correlations.n_images", "201"),
    at("corr-k", "images.correlations.k_grid", "[10, 500]"),
    at("corr-n-traj", "images.correlations.n_traj", "1"),
    ("corr-kind", nested("images.correlations.embeddings", "{e: {kind: sift}}"),
     "images.correlations.embeddings.e.kind"),
    ("corr-name", nested("images.correlations.embeddings", '{"../e": {kind: pixels, patch: 2}}'),
     "images.correlations.embeddings.../e"),
    ("corr-patch", nested("images.correlations.embeddings", "{pixels: {kind: pixels, patch: 3}}"),
     "images.correlations.embeddings.pixels.patch"),
    ("corr-crop", nested("images.correlations.embeddings",
                         "{pixels: {kind: pixels, patch: 2, crop: 32}}"),
     "images.correlations.embeddings.pixels.crop"),
    ("corr-layer", nested("images.correlations.embeddings",
                          "{classifier: {kind: classifier, layer: fc}}"),
     "images.correlations.embeddings.classifier.layer"),
    ("corr-clip-weights", nested("images.correlations.embeddings",
                                 "{clip: {kind: clip, weights: resources/no-clip}}"),
     "images.correlations.embeddings.clip.weights"),
    ("corr-clip-without-weights", nested("images.correlations.embeddings", "{clip: {kind: clip}}"),
     "images.correlations.embeddings.clip.weights"),
    # job counts, against max_jobs (default 100000)
    ("max-jobs", "max_jobs: 100", "learned.experiments.main.P"),  # the largest (66) of 349
    ("rhm-jobs", "rhm: {experiments: {main: {rule_seeds: %s, processes: {epsilon: %s}}}}"
     % (json.dumps(list(range(20))), json.dumps([{"values": [0.5]}] * 1000)),
     "rhm.experiments.main.processes"),
    ("learned-jobs", "learned: {experiments: {main: {P: %s, seeds: %s}}}"
     % (json.dumps(list(range(1, 1001))), json.dumps(list(range(100)))), "learned.experiments.main.P"),
    # the grammar branch: the schema, the random ensemble's right-hand sides, the RHM, lengths,
    # a grammar file, the data the correlations and the control need, noise values, memory, jobs
    at("grammar-typo", "grammar.experiments.random.lenghts", "[8]"),
    at("grammar-source", "grammar.experiments.random.source", "treebank"),
    ("grammar-process", nested("grammar.experiments.random.processes", "{gaussian: [0.5]}"),
     "grammar.experiments.random.processes.gaussian"),
    ("grammar-noise-range", nested("grammar.experiments.random.processes.epsilon", "[1.5]"),
     "grammar.experiments.random.processes.epsilon.0"),
    at("grammar-noise-twice", "grammar.experiments.random.processes.epsilon", "[0.5, 0.5000001]"),
    ("grammar-length-one", nested("grammar.experiments.random.lengths", "[1, 8]"),
     "grammar.experiments.random.lengths.0"),
    at("grammar-preterminals", "grammar.experiments.random.random.n_preterminals", "12"),
    at("grammar-roots", "grammar.experiments.random.random.n_roots", "9"),
    at("grammar-binary", "grammar.experiments.random.random.n_binary", "145"),
    at("grammar-lexical", "grammar.experiments.random.random.n_lexical", "17"),
    ("grammar-overlap", nested("grammar.experiments.random.random", "{n_lexical: 5, overlap: 0.0}"),
     "grammar.experiments.random.random.overlap"),
    ("grammar-rhm-m", nested("grammar.experiments.random", "{source: rhm, rhm: {v: 4, m: 9}}"),
     "grammar.experiments.random.rhm.m"),
    ("grammar-rhm-lengths", nested("grammar.experiments.random.source", "rhm"),
     "grammar.experiments.random.lengths"),
    ("grammar-rhm-long", nested("grammar.experiments.r", "{source: rhm, rhm: {s: 4, L: 6}, "
                                "processes: {epsilon: [0.5]}}"), "grammar.experiments.r.rhm.L"),
    ("grammar-lengths-required", nested("grammar.experiments", "{tiny: {processes: "
                                        "{epsilon: [0.5]}}}"), "grammar.experiments.tiny.lengths"),
    ("grammar-file-required", nested("grammar.experiments.random.source", "file"),
     "grammar.experiments.random.file"),
    ("grammar-file-missing", nested("grammar.experiments.random", "{source: file, file: "
                                    "resources/grammars/none.pcfg}"),
     "grammar.experiments.random.file"),
    at("grammar-n-x0", "grammar.experiments.random.correlations.n_x0", "129"),
    at("grammar-n-traj-one", "grammar.experiments.random.correlations.n_traj", "1"),
    at("grammar-control-lengths", "grammar.experiments.random.control.lengths", "[48]"),
    at("grammar-memory-sentences", "grammar.experiments.random.n_sentences", "1000000"),
    ("grammar-memory-lengths", "{max_mem_mb: 5000, rhm: {enabled: false}, learned: {enabled: "
     "false}, images: {enabled: false}, " + nested("grammar.experiments.random", "{lengths: "
                                                   "[1024], random: {n_nonterminals: 256}, "
                                                   "control: {lengths: null}}")[1:],
     "grammar.experiments.random.lengths"),
    ("grammar-memory-control", nested("grammar.experiments.random.control",
                                      "{n_train: 1000000, n_states: 1024}"),
     "grammar.experiments.random.control.n_train"),
    ("grammar-jobs", "{max_jobs: 2000, " + nested(
        "grammar.experiments.random.processes.epsilon",
        json.dumps([round(i / 1000, 3) for i in range(1001)]))[1:],
     "grammar.experiments.random.processes"),
    at("grammar-empty-experiments", "grammar.experiments", "{}"),
    # the MDLM branch: the schema, the grammar's training and test sentences, the networks, the
    # trainings, the text's passages, local files, memory
    at("mdlm-typo", "mdlm.grammar.lenght", "16"),
    at("mdlm-sampler-steps", "mdlm.grammar.sampler.steps", "0"),
    ("mdlm-levels-zero", nested("mdlm.text.levels", "[0.0, 0.5]"), "mdlm.text.levels.0"),
    at("mdlm-P", "mdlm.grammar.P", "[4096]"),
    at("mdlm-n-x0", "mdlm.grammar.correlations.n_x0", "257"),
    at("mdlm-grammar-roots", "mdlm.grammar.random.n_roots", "9"),
    at("mdlm-hidden", "mdlm.grammar.network.hidden", "30"),
    at("mdlm-head-odd", "mdlm.text.network.hidden", "12"),
    ("mdlm-warmup", nested("mdlm.text.training", "{steps: 50, warmup: 100}"),
     "mdlm.text.training.warmup"),
    at("mdlm-corpus", "mdlm.text.corpus", "resources/text/none.txt"),
    ("mdlm-passages", nested("mdlm.text", "{n_passages: 100000, length: 4096}"),
     "mdlm.text.n_passages"),
    ("mdlm-published", nested("mdlm.published.enabled", "true"), "mdlm.published.checkpoint"),
    ("mdlm-published-tokenizer", nested("mdlm.published", "{enabled: true, checkpoint: "
                                        "workflow/grammars/toy.pcfg}"),
     "mdlm.published.tokenizer"),
    at("mdlm-memory-training", "mdlm.grammar.training.batch_size", "1000000"),
    ("mdlm-memory-sampler", nested("mdlm.text", "{sampler: {batch_size: 1000000}, n_maskings: "
                                               "100000}"), "mdlm.text.sampler.batch_size"),
    at("mdlm-memory-ngram", "mdlm.text.ngram.order", "4"),
    # overlays that would silently do nothing
    at("empty-processes", "rhm.experiments.main.processes", "{}"),
    at("empty-experiments", "rhm.experiments", "{}"),
    at("empty-learned-processes", "learned.experiments.main.processes", "[]"),
]

#: Non-finite numbers in every kind of float key (noise grids, schedules, learning rates, ...).
FLOAT_KEYS = {
    "rhm.schedule.beta_start": ("{}", "rhm.schedule.beta_start"),
    "rhm.schedule.beta_end": ("{}", "rhm.schedule.beta_end"),
    "rhm.experiments.main.processes.epsilon": ("[{{values: [0.5, {}]}}]",
                                               "rhm.experiments.main.processes.epsilon[0].values[1]"),
    "rhm.experiments.main.processes.gaussian": ("[{{start: {}, stop: 1.0, num: 3}}]",
                                                "rhm.experiments.main.processes.gaussian[0].start"),
    "rhm.experiments.main.processes.masking": ("[{{start: 0.0, stop: {}, num: 3}}]",
                                               "rhm.experiments.main.processes.masking[0].stop"),
    "learned.schedule.beta_end": ("{}", "learned.schedule.beta_end"),
    "learned.training.lr": ("{}", "learned.training.lr"),
    "learned.training.weight_decay": ("{}", "learned.training.weight_decay"),
    "learned.training.grad_clip": ("{}", "learned.training.grad_clip"),
    "learned.evaluation.tolerance": ("{}", "learned.evaluation.tolerance"),
    "learned.evaluation.grid.gaussian": ("[0.0, {}]", "learned.evaluation.grid.gaussian[1]"),
    "images.data.held_out_fraction": ("{}", "images.data.held_out_fraction"),
    "images.model.train.lr": ("{}", "images.model.train.lr"),
    "images.model.train.ema_decay": ("{}", "images.model.train.ema_decay"),
    "images.quality.confidence": ("{}", "images.quality.confidence"),
    "images.correlations.confidence": ("{}", "images.correlations.confidence"),
    "grammar.experiments.random.processes.masking": (
        "[0.5, {}]", "grammar.experiments.random.processes.masking[1]"),
    "grammar.experiments.random.random.overlap": ("{}", "grammar.experiments.random.random.overlap"),
    "mdlm.grammar.training.lr": ("{}", "mdlm.grammar.training.lr"),
    "mdlm.text.levels": ("[0.5, {}]", "mdlm.text.levels[1]"),
}
for _key, (_value, _named) in FLOAT_KEYS.items():
    for _bad in (".nan", ".inf", "-.inf"):
        BAD.append((f"{_key}={_bad}", nested(_key, _value.format(_bad)), _named))

#: Names that would leave their folder or break a path or a wildcard, for every key that names one.
BAD_NAMES = ["..", "../../tmp/x", "a/b", ".hidden", "a b", "x(", "-x"]
for _name in BAD_NAMES:
    BAD += [
        (f"rhm-experiment={_name}", nested("rhm.experiments", f"{{{json.dumps(_name)}: {RHM_EXP}}}"),
         f"rhm.experiments.{_name}"),
        (f"learned-experiment={_name}",
         nested("learned.experiments", f"{{{json.dumps(_name)}: {LEARNED_EXP}}}"),
         f"learned.experiments.{_name}"),
        (f"images-data={_name}", nested("images.data.name", json.dumps(_name)), "images.data.name"),
        (f"images-model={_name}", nested("images.model.name", json.dumps(_name)), "images.model.name"),
        (f"images-classifier={_name}", nested("images.classifier.name", json.dumps(_name)),
         "images.classifier.name"),
        (f"grammar-experiment={_name}",
         nested("grammar.experiments", f"{{{json.dumps(_name)}: {GRAMMAR_EXP}}}"),
         f"grammar.experiments.{_name}"),
    ]

#: Overlays that pass: the shipped presets and overlays, and edge values that are allowed.
GOOD: list[tuple[str, list[str]]] = [
    ("default", []),
    ("smoke", [SMOKE]),
    ("smoke-only-rhm", [SMOKE, "workflow/presets/only-rhm.yaml"]),
    ("paper-on-slurm", ["workflow/presets/paper.yaml"]),  # cluster executor: cuda is the nodes'
    ("smoke-only-grammar", [SMOKE, "workflow/presets/only-grammar.yaml"]),
    ("paper-grammar-on-slurm", ["workflow/presets/paper.yaml",
                                "workflow/presets/grammar-paper.yaml"]),
    ("grammar-phase", ["workflow/presets/grammar-phase.yaml"]),
    ("smoke-only-mdlm", [SMOKE, "workflow/presets/only-mdlm.yaml"]),
]
GOOD_OVERLAYS = {
    "names": "rhm: {experiments: {2-b_C: %s}}\nimages: {data: {name: d-1_x}, model: {name: 0m}}"
             % RHM_EXP,
    "held-out-max": nested("images.n_per_class", "35"),
    "phase-off": nested("rhm.phase_diagram.enabled", "false"),
    "fss-off": nested("rhm.finite_size_scaling.experiments", "[]"),
    "fss-three-depths": "rhm: {finite_size_scaling: {L_min: 6, L_max: null}}",
    "grammar-names": "grammar: {experiments: {2-b_C: %s}}" % GRAMMAR_EXP,
    "grammar-rhm": nested("grammar.experiments.r", "{source: rhm, processes: {masking: [0.5]}}"),
    "grammar-file": nested("grammar.experiments.toy", "{source: file, file: "
                           "workflow/grammars/toy.pcfg, lengths: [8, 12], processes: "
                           "{epsilon: [0.0, 1.0]}}"),
    "grammar-no-control": nested("grammar.experiments.random.control.enabled", "false"),
    "grammar-off": nested("grammar.enabled", "false"),
    "mdlm-off": nested("mdlm.enabled", "false"),
    "mdlm-text-only": nested("mdlm.grammar.enabled", "false"),
    "mdlm-char": nested("mdlm.text.tokenizer", "{kind: char}"),
}

DUPLICATE = f"""rhm:
  experiments:
    main: {RHM_EXP}
    main: {RHM_EXP}
"""


def _dry_runs(cases_file: str) -> None:
    """Script mode: dry-run every case of ``cases_file`` (JSON: [[case, workdir, configfiles,
    nodes]]) in this process, printing one JSON line {case: verdict} per case."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    for case, workdir, files, nodes in json.loads(Path(cases_file).read_text()):
        os.chdir(workdir)
        try:
            with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
                # nodes: what a cluster executor's --jobs gives (the profile's `jobs: 100`)
                workflow = api.workflow(
                    resource_settings=ResourceSettings(cores=1, nodes=nodes),
                    config_settings=ConfigSettings(configfiles=[Path(f) for f in files]),
                    snakefile=Path("Snakefile"), workdir=Path(workdir))
                workflow.dag().execute_workflow(executor="dryrun")
            verdict = "ok"
        except Exception as e:  # every error is a verdict, the tests judge it
            verdict = f"{type(e).__name__}: {e}"
        print(json.dumps({case: verdict}), flush=True)


def _cases(work: Path, loose: Path) -> list[tuple[str, Path, list[str], bool]]:
    """Every case: (name, workflow root, overlay files relative to it, whether the jobs run here
    (False: a cluster executor's nodes))."""
    (work / "cases").mkdir(exist_ok=True)
    cases = []
    for i, (case, overlay, _) in enumerate(BAD):
        (work / f"cases/bad{i}.yaml").write_text(overlay + "\n")
        cases.append((case, work, [f"cases/bad{i}.yaml"], True))
    for case, files in GOOD:
        cases.append((case, work, files, "slurm" not in case))
    for case, overlay in GOOD_OVERLAYS.items():
        (work / f"cases/{case}.yaml").write_text(overlay + "\n")
        cases.append((case, work, [f"cases/{case}.yaml"], True))
    (work / "cases/duplicate.yaml").write_text(DUPLICATE)
    cases.append(("duplicate", work, ["cases/duplicate.yaml"], True))
    for device in ("learned", "images", "mdlm"):
        (work / f"cases/{device}-cuda.yaml").write_text(nested(f"{device}.device", "cuda") + "\n")
        cases.append((f"{device}-cuda-local", work, [f"cases/{device}-cuda.yaml"], True))
        cases.append((f"{device}-cuda-cluster", work, [f"cases/{device}-cuda.yaml"], False))
    for name in ("..", "a/b"):
        (loose / f"escape{len(name)}.yaml").write_text(
            nested("images.model.name", json.dumps(name)) + "\n")
        cases.append((f"escape={name}", loose, [f"escape{len(name)}.yaml"], True))
    return cases


def _workflows(tmp: Path) -> tuple[Path, Path]:
    """A copy of the workflow, and one with the schemas' name pattern removed (the path check
    behind it)."""
    work = copy_workflow(tmp / "work")
    loose = copy_workflow(tmp / "loose")
    schema = loose / "workflow/schemas/images.schema.yaml"
    schema.write_text(schema.read_text().replace('pattern: "^[A-Za-z0-9][A-Za-z0-9_-]*$"', ""))
    return work, loose


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict[str, str]:
    """The planning module's verdict on every case, in this process."""
    found = {}
    for case, root, files, here in _cases(*_workflows(tmp_path_factory.mktemp("config"))):
        try:
            load_plan_files(*files, root=root, jobs_run_here=here)
            found[case] = "ok"
        except Exception as e:  # every error is a verdict, the tests judge it
            found[case] = f"{type(e).__name__}: {e}"
    return found


#: The cases that also run end to end, as Snakemake dry runs (slow tier): one of each kind.
END_TO_END = ["default", "smoke", "paper-on-slurm", "rhm-m", "duplicate", "empty-processes",
              "learned.training.lr=.nan", "images-cuda-local", "images-cuda-cluster",
              "escape=..", "max-jobs"]


@pytest.mark.slow
def test_snakemake_dry_runs_give_the_planning_module_s_verdicts(tmp_path, verdicts):
    """The same verdicts through Snakemake itself (its config merge, the Snakefile's call into the
    planning module, the rules' path check): refusals arrive as the same message."""
    cases = [[case, str(root), files, None if here else 100]
             for case, root, files, here in _cases(*_workflows(tmp_path))
             if case in END_TO_END]
    assert len(cases) == len(END_TO_END)
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    proc = subprocess.run([sys.executable, __file__, str(cases_file)], cwd=tmp_path,
                          env=snakemake_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900)
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            found.update(json.loads(line))
    assert set(found) == set(END_TO_END), proc.stdout[-4000:]
    def message(verdict: str) -> str:  # the files of the two copies live in different folders
        return re.sub(r"/\S*?/(work|loose)/", r"<\1>/", verdict.split(": ", 1)[-1])

    for case in END_TO_END:
        expected = verdicts[case]
        if expected == "ok":
            assert found[case] == "ok", found[case]
        else:
            assert found[case].startswith("WorkflowError: "), found[case]
            assert message(found[case]) == message(expected), found[case]


@pytest.mark.parametrize("case,key", [(case, key) for case, _, key in BAD],
                         ids=[case for case, _, _ in BAD])
def test_bad_config_is_refused_naming_its_key(verdicts, case, key):
    assert f"Invalid config key '{key}'" in verdicts[case], verdicts[case]


@pytest.mark.parametrize("case", [case for case, _ in GOOD] + list(GOOD_OVERLAYS))
def test_shipped_presets_and_edge_values_pass(verdicts, case):
    assert verdicts[case] == "ok", verdicts[case]


def test_nonfinite_numbers_are_named_as_such(verdicts):
    assert "must be a finite number, got nan" in verdicts["learned.training.lr=.nan"]
    assert "must be a finite number, got -inf" in verdicts["images.model.train.lr=-.inf"]


def test_duplicate_key_in_a_user_file_names_the_file_and_the_key(verdicts):
    verdict = verdicts["duplicate"]
    assert "cases/duplicate.yaml" in verdict and "'main' is given twice" in verdict, verdict
    assert "line 4" in verdict, verdict


def test_empty_overlay_says_why_it_is_refused(verdicts):
    assert "removes nothing" in verdicts["empty-processes"], verdicts["empty-processes"]


def test_memory_error_says_how_much_and_what_fits(verdicts):
    verdict = verdicts["rhm-memory-batch"]
    assert "max_mem_mb = 64000" in verdict and "batch_size <= 136 fits" in verdict, verdict


def test_cuda_without_a_gpu_is_refused_only_where_the_jobs_run(verdicts):
    import torch

    for branch in ("learned", "images"):
        here = verdicts[f"{branch}-cuda-local"]
        if torch.cuda.is_available():
            assert here == "ok", here
        else:
            assert f"Invalid config key '{branch}.device'" in here, here
        assert verdicts[f"{branch}-cuda-cluster"] == "ok", verdicts[f"{branch}-cuda-cluster"]


@pytest.mark.parametrize("name", ["..", "a/b"])
def test_a_name_the_schema_lets_through_still_cannot_leave_results(verdicts, name):
    verdict = verdicts[f"escape={name}"]
    assert "Invalid config key 'images.model.name'" in verdict and "would leave" in verdict, verdict


def test_shipped_yaml_files_have_no_duplicate_keys():
    files = [REPO / "config.yaml", *sorted((REPO / "workflow/presets").glob("*.yaml")),
             *sorted((REPO / "workflow/profiles").glob("*/config.yaml"))]
    assert len(files) >= 6
    for path in files:
        assert read_yaml_strict(path) == yaml.safe_load(path.read_text()), path


def test_strict_loader_names_the_duplicate_at_any_depth(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a:\n  b: {c: 1, d: 2, c: 3}\n")
    with pytest.raises(ValueError, match=r"'c' is given twice in one mapping \(line 2\)"):
        read_yaml_strict(path)


def test_adm_flags_in_the_schema_are_the_loader_s():
    from dataclasses import fields

    from hierphase.images.models import AdmFlags

    schema = yaml.safe_load((REPO / "workflow/schemas/images.schema.yaml").read_text())
    flags = schema["properties"]["model"]["properties"]["adm_flags"]
    assert set(flags["properties"]) == {f.name for f in fields(AdmFlags)}
    assert flags["additionalProperties"] is False


def test_digits_class_sizes_are_those_of_scikit_learn():
    sklearn = pytest.importorskip("sklearn.datasets")
    import numpy as np

    from hierphase.images.digits_data import DIGITS_PER_CLASS, check_n_per_class

    assert tuple(np.bincount(sklearn.load_digits().target)) == DIGITS_PER_CLASS
    check_n_per_class(35, 0.2)  # round(0.2 * 174) = 35 held out of the smallest class
    with pytest.raises(ValueError, match="n_per_class must be in"):
        check_n_per_class(36, 0.2)


@pytest.mark.slow
def test_local_runs_get_the_machine_memory_as_limit(tmp_path):
    """A job declaring more memory than the machine has is refused before it starts (the default
    profile, no --resources): an RHM sweep sized past this machine, its inputs touched; and one
    declaring more than the user's --resources mem_mb."""
    from hierphase.plan.rhm import sweep_mem_mb

    machine_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 10**6
    main = yaml.safe_load((REPO / "config.yaml").read_text())["rhm"]["experiments"]["main"]
    exp = {"v": main["v"], "s": main["s"], "n_samples": 1, "batch_size": 1000}
    # the shallowest depth whose sweep job declares more memory than the machine has
    L = next((L for L in range(2, 21) if sweep_mem_mb(exp, L) > machine_mb), None)
    assert L is not None, "machine too large for the schema's depths"
    work = copy_workflow(tmp_path)
    (work / "big.yaml").write_text(
        "max_mem_mb: 10000000\n"
        f"rhm: {{experiments: {{main: {{L: [{L}], n_samples: 1, batch_size: 1000, "
        "correlations: {enabled: false}}}, finite_size_scaling: {experiments: []}, "
        "controls: {permuted_rhm: {enabled: false}}, population: {enabled: false}}\n"
        "learned: {enabled: false}\nimages: {enabled: false}\n")
    shard = f"results/rhm/sweep/main/L{L}/rules0/epsilon/shard0.parquet"
    inputs = [f"results/rhm/rules/main/L{L}/rules0/rules.pt", f"results/rhm/data/main/L{L}/rules0/trees.pt"]
    profile = ["--workflow-profile", "workflow/profiles/default"]
    run_snakemake(work, *profile, "--touch", *inputs, configfile="big.yaml")
    proc = run_snakemake(work, *profile, shard, configfile="big.yaml", check=False)
    assert proc.returncode != 0
    assert f"but only mem_mb={machine_mb} are available" in proc.stdout, proc.stdout[-3000:]
    assert not (work / "logs/rhm/sweep").exists(), "the sweep job started"
    # the user's own limit holds the same way (Snakemake alone would file it where it limits nothing)
    proc = run_snakemake(work, *profile, "--resources", "mem_mb=500", "-f", inputs[0],
                         configfile="big.yaml", check=False)
    assert proc.returncode != 0
    assert "Job needs mem_mb=1000 but only mem_mb=500 are available" in proc.stdout, proc.stdout[-3000:]


if __name__ == "__main__":
    _dry_runs(sys.argv[1])
