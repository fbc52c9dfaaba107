"""Refusals that name their file or key, within 10 s: config files Snakemake or YAML cannot read
as they stand (tabs, merge keys), data files of other settings (trees of another depth, weights
of another width), sidecars that are binary or lack their record, ``--config`` overrides that
would do nothing, and keys of a switched-off branch (never read, so they block nothing)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch
from workflow_helpers import REPO

from hierphase import io, rhm
from hierphase.plan import ConfigError, load_plan, load_plan_files
from hierphase.plan.__main__ import main as check_files


@pytest.fixture(autouse=True)
def within_ten_seconds():
    start = time.monotonic()
    yield
    assert time.monotonic() - start < 10


def test_tab_indented_json_is_read_as_json(tmp_path):
    path = tmp_path / "overlay.json"
    path.write_text('{\n\t"seed": 3,\n\t"rhm": {\n\t\t"enabled": true\n\t}\n}\n')
    assert check_files([str(path)]) == 0
    assert load_plan_files(path, root=REPO).config["seed"] == 3


@pytest.mark.parametrize("name, text", [
    ("tab.yaml", "rhm:\n\tenabled: true\n"),
    ("broken.json", '{"seed": 1,\n\t"rhm": [1,\n\t2}\n'),
    ("merge.yaml", "base: &b {seed: 1}\n<<: *b\n"),
])
def test_unreadable_config_files_are_refused_naming_them(tmp_path, capsys, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"Invalid config file {path}"):
        load_plan_files(path, root=REPO)
    assert check_files([str(path)]) == 1
    assert str(path) in capsys.readouterr().err


def test_trees_of_another_depth_are_refused_naming_the_file(tmp_path):
    shallow, deep = (rhm.sample_rules(4, 2, 2, L, seed=0) for L in (3, 4))
    path = tmp_path / "trees.pt"
    io.save_tensors(path, {"levels": rhm.sample_trees(shallow, 5, seed=1)})
    assert len(rhm.load_trees(path, shallow)) == 4
    with pytest.raises(ValueError, match=f"{path}: not trees of these rules.*L = 4"):
        rhm.load_trees(path, deep)
    io.save_tensors(path, {"other": torch.zeros(3)})
    with pytest.raises(ValueError, match=str(path)):
        rhm.load_trees(path, shallow)


def test_weights_of_another_width_are_refused_naming_the_file(tmp_path):
    from hierphase.learned.networks import NetworkConfig, TreeUNet
    from hierphase.learned.train import save_weights
    from hierphase.stages.learned import load_model

    narrow = NetworkConfig(in_channels=5, vocab=4, s=2, L=2, width=8)
    wide = NetworkConfig(in_channels=5, vocab=4, s=2, L=2, width=16)
    meta = {"process": "masking", "arch": "tree_unet", "network": wide.to_dict(),
            "schedule": {"T": 1000, "kind": "linear", "beta_start": 1e-4, "beta_end": 0.02}}
    path = tmp_path / "step10.pt"
    save_weights(path, TreeUNet(narrow).state_dict(), meta)
    with pytest.raises(io.CorruptFileError, match=f"{path}: its weights do not fit"):
        load_model(path)


@pytest.mark.parametrize("content", [b"\x80\x81\xfe\xff binary", b"[1, 2]", b'{"seed": 1}'])
def test_binary_or_recordless_sidecars_are_refused_naming_them(tmp_path, content):
    from hierphase.stages.images import read_sweep

    path = tmp_path / "shard0.pt"
    torch.save({"images": torch.zeros(1, 1, 8, 8, dtype=torch.uint8),
                "labels": torch.zeros(1, dtype=torch.long), "names": ["a"]}, path)
    io.sidecar_path(path).write_bytes(content)
    with pytest.raises(io.CorruptFileError, match=str(io.sidecar_path(path))):
        read_sweep(path)


def test_a_binary_sidecar_of_a_table_is_refused_naming_it(tmp_path):
    import pandas as pd

    path = tmp_path / "t.parquet"
    io.write_table(pd.DataFrame({"x": [1.0]}), path)
    io.sidecar_path(path).write_bytes(b"\xff\xfe\x00")
    with pytest.raises(io.CorruptFileError, match=str(io.sidecar_path(path))):
        io.read_table(path)


def _workflow(overrides: dict) -> SimpleNamespace:
    """What :func:`hierphase.plan.workflow.plan_workflow` reads of Snakemake's workflow."""
    return SimpleNamespace(
        basedir=str(REPO), configfiles=[str(REPO / "config.yaml")],
        config_settings=SimpleNamespace(configfiles=[], replace_workflow_config=False,
                                        config=overrides),
        resource_settings=SimpleNamespace(nodes=None), is_main_process=False)


@pytest.mark.parametrize("overrides, key", [({"rhm": {}}, "'rhm'"),
                                            ({"rhm": {"controls": {}}}, "'rhm.controls'")])
def test_empty_config_overrides_are_refused_as_in_a_file(overrides, key):
    from snakemake.exceptions import WorkflowError

    from hierphase.plan.config import merge_config
    from hierphase.plan.workflow import plan_workflow

    config = merge_config(io.read_yaml_strict(REPO / "config.yaml"), overrides)
    with pytest.raises(WorkflowError, match=f"{key}: --config sets it to {{}}, which removes "
                                            "nothing"):
        plan_workflow(_workflow(overrides), config)
    assert plan_workflow(_workflow({"seed": 3}), {**config, "seed": 3}).config["seed"] == 3


@pytest.mark.parametrize("branch", ["rhm", "learned", "images", "grammar"])
def test_keys_of_a_switched_off_branch_block_nothing(tmp_path, branch):
    bad = "{experiments: {main: {v: 1}}, bogus: 3, device: nowhere}"
    off, on = tmp_path / "off.yaml", tmp_path / "on.yaml"
    off.write_text(f"{branch}:\n  enabled: false\n  bad: {bad}\n")
    on.write_text(f"{branch}:\n  bad: {bad}\n")
    plan = load_plan_files(off, root=REPO, jobs_run_here=False)
    assert branch not in [b.name for b in plan.enabled]
    assert not any(t.startswith(f"results/{branch}/") for t in plan.targets())
    with pytest.raises(ConfigError, match=f"{branch}.bad"):
        load_plan_files(on, root=REPO, jobs_run_here=False)
    # the switch itself is still checked
    off.write_text(f"{branch}:\n  enabled: 'no'\n")
    with pytest.raises(ConfigError, match=f"{branch}.enabled"):
        load_plan(io.read_yaml_strict(REPO / "config.yaml") | {branch: {"enabled": "no"}},
                  root=REPO)
