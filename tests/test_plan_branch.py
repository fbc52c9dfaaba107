"""Adding a branch is one registry entry plus the branch's own files: a toy branch built from the
file list of docs/architecture.md ("How to add a branch") in a copy of the workflow, dry-run beside
the four others."""

from __future__ import annotations

import os
import re

import pytest
from workflow_helpers import REPO, SMOKE, copy_workflow, planned_jobs, run_snakemake

from hierphase.plan import load_plan_files

PLAN = '''
from hierphase.plan import Branch, Figure

RESULTS = "results/toy/{name}"


class ToyBranch(Branch):
    """Toy branch: one table of seeded draws per name, one figure of each."""

    name = "toy"
    description = "A toy branch: seeded draws."

    def check(self):
        self.jobs["toy.names"] = 2 * len(self.config["names"])

    def wildcards(self):
        return {"name": set(self.config["names"])}

    def names(self):
        return {f"toy.names.{n}": n for n in self.config["names"]}

    def draws_seed(self, wildcards):
        return self.seed("draws", wildcards.name)

    def targets(self):
        tables = [f"{RESULTS}/draws.csv".format(name=n) for n in self.config["names"]]
        return tables + [t for f in self.figures() for t in f.targets()]

    def figures(self):
        each = tuple({"name": n} for n in self.config["names"])
        return [Figure(rule=f"toy_fig_{kind}", path=f"results/toy/figures/{{name}}/{kind}",
                       inputs={"table": f"{RESULTS}/draws.csv"}, caption=f"toy/{kind}.rst",
                       category="Toy", subcategory="{name}", instances=each,
                       draw=f"toy_figures:toy_fig_{kind}",
                       log=f"logs/toy/figures/{{name}}/{kind}.log", conda="../../envs/rhm.yaml")
                for kind in ("draws", "hist")]
'''

SCHEMA = '''$schema: "https://json-schema.org/draft/2020-12/schema"
type: object
additionalProperties: false
properties:
  enabled: {type: boolean, default: true}
  n: {type: integer, minimum: 1, maximum: 1000, default: 10}
  names:
    type: array
    minItems: 1
    items: {type: string, pattern: "^[A-Za-z0-9][A-Za-z0-9_-]*$"}
    default: [a]
'''

RULES = '''TOY = PLAN["toy"]


rule toy:
    """Target: only the toy branch (`snakemake toy`)."""
    input:
        TOY.targets(),
    localrule: True


rule toy_draws:
    output:
        table=f"{TOY_RESULTS}/draws.csv",
    log:
        "logs/toy/draws/{name}.log",
    localrule: True
    params:
        n=TOY.config["n"],
        seed=TOY.draws_seed,
    script:
        "../scripts/toy_draws.py"
'''.replace("TOY_RESULTS", "'results/toy/{name}'")

FIGURES = '''"""Toy figure glue: one function per figure rule, named after it."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def toy_fig_draws(inputs, params, wildcards):
    fig, ax = plt.subplots()
    ax.plot(pd.read_csv(inputs["table"])["draw"])
    return fig


def toy_fig_hist(inputs, params, wildcards):
    fig, ax = plt.subplots()
    ax.hist(pd.read_csv(inputs["table"])["draw"])
    return fig
'''

SCRIPT = '''"""Toy branch: seeded draws."""
import numpy as np
import pandas as pd

from hierphase import jobs

jobs.log_to(snakemake.log[0])
p = snakemake.params
draws = np.random.default_rng(p.seed).normal(size=p.n)
pd.DataFrame({"draw": draws}).to_csv(snakemake.output.table, index=False)
'''


def add_branch_steps() -> list[str]:
    """The files of the docs' list, ``<b>`` for the branch (and <rule>, <figure>, ...)."""
    text = (REPO / "docs/architecture.md").read_text()
    section = text.split("## How to add a branch", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. `([^`]+)`", section, flags=re.M)


def build_toy_branch(work):
    """Write the toy branch into the workflow copy ``work``, file by file from the docs' list;
    return the folder its planning module lives in (to put on PYTHONPATH)."""
    steps = add_branch_steps()
    assert steps == ["workflow/branches.yaml", "src/hierphase/plan/<b>.py",
                     "workflow/schemas/<b>.schema.yaml", "workflow/rules/<b>.smk",
                     "workflow/scripts/<b>_<rule>.py", "src/hierphase/stages/figures/<b>.py",
                     "workflow/report/<b>/<figure>.rst", "config.yaml"], steps
    # 1. the registry entry; 2. the planning class, outside the installed package
    (work / "workflow/branches.yaml").write_text(
        (work / "workflow/branches.yaml").read_text() + "toy: toy_plan:ToyBranch\n")
    (work / "plugins").mkdir()
    (work / "plugins/toy_plan.py").write_text(PLAN)
    (work / "workflow/schemas/toy.schema.yaml").write_text(SCHEMA)  # 3
    (work / "workflow/rules/toy.smk").write_text(RULES)  # 4
    (work / "workflow/scripts/toy_draws.py").write_text(SCRIPT)  # 5
    (work / "plugins/toy_figures.py").write_text(FIGURES)  # 6, outside the package as the plan
    for kind in ("draws", "hist"):
        (work / "workflow/report/toy").mkdir(exist_ok=True)
        (work / f"workflow/report/toy/{kind}.rst").write_text(f"Toy {kind}.\n")  # 7
    (work / "config.yaml").write_text((work / "config.yaml").read_text()
                                      + "\ntoy:\n  names: [a, b]\n")  # 8
    return work / "plugins"


def test_a_toy_branch_plans_from_the_registry(tmp_path, monkeypatch):
    """Without Snakemake: the planning module finds the toy branch through the registry."""
    work = copy_workflow(tmp_path)
    monkeypatch.syspath_prepend(str(build_toy_branch(work)))
    plan = load_plan_files(SMOKE, root=work)
    assert list(plan.branches) == ["rhm", "learned", "images", "grammar", "mdlm", "toy"]
    assert "results/toy/b/draws.csv" in plan.targets()
    assert "results/toy/figures/a/draws.png" in plan["toy"].targets()
    assert plan.jobs()["toy.names"] == 4
    assert plan.wildcard_constraints()["name"] == "a|b"
    assert plan["toy"].draws_seed(type("W", (), {"name": "a"})) \
        != plan["toy"].draws_seed(type("W", (), {"name": "b"}))


@pytest.mark.slow
def test_a_toy_branch_dry_runs_beside_the_others(tmp_path, monkeypatch):
    work = copy_workflow(tmp_path)
    plugins = build_toy_branch(work)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")]))
    toy = planned_jobs(run_snakemake(work, "-n", "toy", configfile=SMOKE).stdout)
    every = planned_jobs(run_snakemake(work, "-n", configfile=SMOKE).stdout)
    assert sorted(rule for rule, _ in toy) == sorted(["toy", *["toy_draws", "toy_fig_draws",
                                                               "toy_fig_hist"] * 2])
    rules = {rule for rule, _ in every}
    assert {"toy_draws", "toy_fig_draws", "rhm_sweep", "learned_train", "images_sweep"} <= rules
    # for real: every figure rule generated from the table draws with its own function
    run_snakemake(work, "-c1", "toy", configfile=SMOKE)
    for name in ("a", "b"):
        for kind in ("draws", "hist"):
            png = (work / f"results/toy/figures/{name}/{kind}.png").read_bytes()
            assert png.startswith(b"\x89PNG"), (name, kind)
            log = (work / f"logs/toy/figures/{name}/{kind}.log").read_text()
            assert f"drawing with toy_figures:toy_fig_{kind}" in log, log
