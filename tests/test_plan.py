"""The planning module (hierphase.plan) on its own, without Snakemake: seeds against an
independent hash, the config never changed, defaults copied, the merge of config files against
Snakemake's own, the figure tables against the files they name."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from workflow_helpers import REPO, SMOKE

from hierphase.plan import ConfigError, load_plan, load_plan_files
from hierphase.plan.checks import validate_section
from hierphase.plan.config import merge_config, read_registry


@pytest.fixture(scope="module")
def smoke():
    return load_plan_files(SMOKE, root=REPO)


def sha_seed(*parts) -> int:
    """The seed rule written out: SHA-256 of the canonical JSON of the parts, 63 bits."""
    blob = json.dumps(list(parts), sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "little") >> 1


class Wildcards(dict):
    __getattr__ = dict.__getitem__


def test_seeds_are_the_root_seed_branch_stage_and_wildcards(smoke):
    wc = Wildcards(experiment="main", L="3", rule_seed="0", process="masking")
    assert smoke["rhm"].job_seed("sweep", "process")(wc) == sha_seed(0, "rhm", "sweep", "main", 3,
                                                                     0, "masking")
    assert smoke["rhm"].seed("control", "flat_mixture") == sha_seed(0, "rhm", "control",
                                                                    "flat_mixture")
    # the learned branch keeps its stage labels (one part, "learned-<stage>"): no number changes
    wc = Wildcards(experiment="main", process="masking", P="64", train_seed="0")
    assert smoke["learned"].job_seed("train")(wc) == sha_seed(0, "learned-train", "main",
                                                              "masking", 64, 0)
    assert smoke["learned"].job_seed("data")(wc) == sha_seed(0, "learned-data", "main", 64, 0)
    # images: the stage's offset in images.seeds first
    assert smoke["images"].job_seed("train", "ddpm") == sha_seed(0, "images", "train", 0, "ddpm")


def test_the_config_is_never_changed():
    config = merge_config({}, copy.deepcopy(load_plan_files(root=REPO).config))
    merged = merge_config(copy.deepcopy(config), {"rhm": {"experiments": {"main": {
        "correlations": {"enabled": False}}}}})
    before = copy.deepcopy(merged)
    plan = load_plan(merged, root=REPO)
    assert merged == before
    assert plan.config["rhm"]["experiments"]["main"]["correlations"] is None


def test_defaults_are_copies_not_shared():
    schema = {"type": "object", "properties": {
        "a": {"type": "object", "default": {}, "properties": {"x": {"default": []}}},
        "b": {"type": "object", "default": {}, "properties": {"x": {"default": []}}}}}
    data = validate_section({}, schema)
    assert data == {"a": {"x": []}, "b": {"x": []}}
    data["a"]["x"].append(1)
    assert data["b"]["x"] == [] and schema["properties"]["a"]["default"] == {}


@pytest.mark.parametrize("overlays", [[SMOKE], [SMOKE, "workflow/presets/only-rhm.yaml"],
                                      ["workflow/presets/paper.yaml"]])
def test_config_files_merge_as_snakemake_merges_them(overlays):
    from snakemake.utils import update_config

    from hierphase.io import read_yaml_strict

    ours, theirs = {}, {}
    for path in ["config.yaml", *overlays]:
        merge_config(ours, read_yaml_strict(REPO / path))
        update_config(theirs, read_yaml_strict(REPO / path))
    assert ours == theirs


def test_wildcard_values_are_the_union_of_the_branches(smoke):
    constraints = smoke.wildcard_constraints()
    rhm, learned, grammar = smoke["rhm"], smoke["learned"], smoke["grammar"]
    names = set(rhm.experiments) | set(learned.experiments) | set(grammar.experiments)
    assert constraints["experiment"] == "|".join(sorted(names))
    assert set(constraints["process"].split("|")) == {"epsilon", "gaussian", "masking"}
    assert constraints["shard"] == r"\d+"


def test_figure_tables_name_existing_functions_and_captions(smoke):
    from hierphase.stages.figures import resolve

    figures = smoke.figures()
    assert len(figures) == len({f.rule for f in figures}) == 38
    for figure in figures:
        assert callable(resolve(figure.draw)), figure.rule
        assert figure.rule_params["draw"] == figure.draw
        assert (REPO / f"workflow/report/{figure.caption}").is_file(), figure.rule
        assert figure.log.startswith("logs/") and figure.path.startswith("results/")
    targets = set(smoke.targets())
    for figure in figures:
        assert set(figure.targets()) <= targets


def test_figure_instances_follow_the_config(smoke):
    figures = {f.rule: f for f in smoke.figures()}
    rhm = smoke["rhm"]
    with_eps = [n for n, e in rhm.experiments.items() if "epsilon" in e["processes"]]
    assert [w["experiment"] for w in figures["rhm_fig_class_vs_eps"].instances] == with_eps
    # xi scaling only where the epsilon correlations meet a mean-field transition
    assert [w["experiment"] for w in figures["rhm_corr_fig_xi_scaling"].instances] == ["main", "depth"]
    assert figures["rhm_corr_fig_xi_scaling"].targets() == [
        f"results/rhm/figures/correlations/{name}/xi_scaling.{ext}"
        for name in ("main", "depth") for ext in ("png", "pdf")]


def test_job_ceiling_names_the_largest_key():
    with pytest.raises(ConfigError) as err:
        load_plan(merge_config(copy.deepcopy(load_plan_files(root=REPO).config), {"max_jobs": 10}),
                  root=REPO)
    assert err.value.key == "learned.experiments.main.P"


def test_the_registry_refuses_what_is_not_a_branch(tmp_path):
    (tmp_path / "workflow").mkdir()
    (tmp_path / "workflow/branches.yaml").write_text("rhm: hierphase.plan.checks:ConfigError\n")
    with pytest.raises(TypeError, match="not a Branch named 'rhm'"):
        read_registry(tmp_path)
    assert list(read_registry(REPO)) == ["rhm", "learned", "images", "grammar", "mdlm"]
