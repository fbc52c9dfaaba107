"""Property-based hostile configs: configs drawn from the project's own schemas (every branch's
``workflow/schemas/<branch>.schema.yaml``), merged over config.yaml and mutated as a hostile user
would (floats for integers, bools, duplicates in lists, NaN and infinity, huge sizes, odd names,
non-string keys, templating; in files also object tags, dates, merge keys, alias bombs). Each
config is either accepted, and then plans only targets under ``results/``, or refused within
10 s by a ConfigError naming a key or the file. In this process, through the planning module
(what the Snakefile calls), without Snakemake.

Fast tier: 4 branches x 12 drawn configs + 4 x 8 drawn files = 80 cases per default run, plus
the cases the deep tier found (``FOUND``). Deep tier (``pytest -m fuzz``): 4 x 400 + 4 x 200 =
2400 cases.

The scalar leaves are drawn by hypothesis-jsonschema; objects, lists and ``$ref`` are walked here
(its own object strategy does not run with the installed hypothesis).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from workflow_helpers import REPO

from hierphase.io import read_yaml_strict
from hierphase.plan import ConfigError, load_plan, load_plan_files
from hierphase.plan.checks import load_schema
from hierphase.plan.config import merge_config

BRANCHES = ["rhm", "learned", "images", "grammar"]
BASE = read_yaml_strict(REPO / "config.yaml")
FAST = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
DEEP = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def drawn(schema: dict, root: dict, depth: int = 0) -> st.SearchStrategy:
    """Values valid for ``schema`` (mostly: cross-key rules are the planner's to refuse)."""
    while "$ref" in schema:
        schema = root[schema["$ref"].split("/")[1]][schema["$ref"].split("/")[2]]
    for combined in ("oneOf", "anyOf"):
        if combined in schema:
            return st.one_of([drawn(s, root, depth) for s in schema[combined]])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = schema.get("required", [])
        fixed = st.fixed_dictionaries(
            {k: drawn(props[k], root, depth + 1) for k in required if k in props},
            optional={k: drawn(v, root, depth + 1) for k, v in props.items()
                      if k not in required} if depth < 4 else {})
        extra = schema.get("additionalProperties")
        if not isinstance(extra, dict):
            return fixed
        pattern = schema.get("propertyNames", {}).get("pattern", "^[a-z][a-z0-9_]{0,8}$")
        names = st.from_regex(pattern[1:-1], fullmatch=True).filter(lambda n: len(n) < 40)
        others = st.dictionaries(names, drawn(extra, root, depth + 1), min_size=1, max_size=2)
        return st.tuples(fixed, others).map(lambda pair: {**pair[1], **pair[0]})
    if kind == "array":
        items = drawn(schema.get("items", {}), root, depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), max(schema.get("minItems", 0), 4)),
                        unique_by=(lambda x: json.dumps(x, sort_keys=True))
                        if schema.get("uniqueItems") else None)
    leaf = {k: v for k, v in schema.items() if k not in ("default", "description")}
    return from_schema(leaf) if leaf else st.none()


def section(branch: str) -> st.SearchStrategy:
    schema = load_schema(REPO / f"workflow/schemas/{branch}.schema.yaml")
    return drawn(schema, schema)


def leaves(node, path=()):
    """(path, value) of every leaf and every container of ``node``."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))


def set_at(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


ODD_NAMES = ["x\n", "../x", "a" * 64, "x/y", "", " ", "é", ".", "x" * 300, "-x", "{x}"]
ODD_KEYS = [True, False, 123, None, 1.5]


@st.composite
def mutated(draw, branch: str) -> dict:
    """config.yaml with a drawn ``branch`` section merged over it, then one hostile change."""
    config = merge_config(copy.deepcopy(BASE), {branch: draw(section(branch))})
    spots = [(p, v) for p, v in leaves(config) if p]
    path, value = draw(st.sampled_from(spots))
    how = draw(st.sampled_from(["none", "float", "bool", "duplicate", "nan", "huge", "name",
                                "key", "yte", "string"]))
    if how == "float" and isinstance(value, int) and not isinstance(value, bool):
        set_at(config, path, float(value))
    elif how == "bool" and isinstance(value, int):
        set_at(config, path, draw(st.booleans()))
    elif how == "duplicate" and isinstance(value, list) and value:
        value.append(copy.deepcopy(value[0]))
    elif how == "nan" and isinstance(value, (int, float)):
        set_at(config, path, draw(st.sampled_from([math.nan, math.inf, -math.inf])))
    elif how == "huge" and isinstance(value, (int, float)):
        set_at(config, path, draw(st.sampled_from([2**31, 10**12, 2**63, 10**100])))
    elif how == "name" and isinstance(value, dict):
        value[draw(st.sampled_from(ODD_NAMES))] = copy.deepcopy(next(iter(value.values()), {}))
    elif how == "key" and isinstance(value, dict):
        value[draw(st.sampled_from(ODD_KEYS))] = 1
    elif how == "yte":
        config["__use_yte__"] = True
    elif how == "string":
        set_at(config, path, draw(st.sampled_from(["?1+1", "64", "", "\x00"])))
    return config


def accepted_or_named(run) -> None:
    """``run()`` either plans only targets under results/, or raises a ConfigError naming a key
    or a file; within 10 s either way."""
    start = time.monotonic()
    try:
        plan = run()
    except ConfigError as e:
        assert e.key or "config file" in str(e), e
    else:
        for target in plan.targets():
            assert re.fullmatch(r"results/[A-Za-z0-9_./=-]+", target), target
            assert ".." not in target.split("/"), target
    assert time.monotonic() - start < 10


def check_config(config) -> None:
    accepted_or_named(lambda: load_plan(config, root=REPO))


@pytest.mark.parametrize("branch", BRANCHES)
@FAST
@given(data=st.data())
def test_drawn_configs_are_planned_inside_results_or_refused_naming_a_key(branch, data):
    check_config(data.draw(mutated(branch)))


@pytest.mark.fuzz
@pytest.mark.parametrize("branch", BRANCHES)
@DEEP
@given(data=st.data())
def test_drawn_configs_deep(branch, data):
    check_config(data.draw(mutated(branch)))


BOMB = "bomb: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"bomb{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 9)}]\n" for i in range(1, 9))


@st.composite
def hostile_file(draw, branch: str) -> str:
    """A drawn config as YAML text with one file-level hostile change, and the change."""
    text = yaml.safe_dump({branch: draw(section(branch))}, sort_keys=False)
    change = draw(st.sampled_from(["none", "yte", "tag", "date", "merge", "bomb", "key",
                                   "duplicate"]))
    extra = {"none": "", "yte": "__use_yte__: true\n",
             "tag": f"seed: {draw(st.sampled_from(['!!python/name:os.getpid', '!!set {a: null}', '!!python/object/apply:os.getpid []', '!!binary aGk=', '!x 1']))}\n",
             "date": "seed: 2024-01-01\n", "merge": "x: &m {seed: 1}\ny: {<<: *m}\n",
             "bomb": BOMB, "key": f"{draw(st.sampled_from(['yes', '123', 'null', '~']))}: 1\n",
             "duplicate": f"{branch}: {{}}\n"}[change]
    return extra + text, change


def check_file(tmp_path_factory, drawn_file) -> None:
    text, change = drawn_file
    path = tmp_path_factory.mktemp("fuzz") / "overlay.yaml"
    path.write_text(text)
    start = time.monotonic()
    try:
        load_plan_files(path, root=REPO)
    except ConfigError as e:
        assert e.key or str(path) in str(e), e
    finally:
        assert time.monotonic() - start < 10
    if change != "none":  # more than plain data, or a key twice: refused naming the file
        with pytest.raises(ConfigError, match=re.escape(str(path))):
            load_plan_files(path, root=REPO)


FILES_FAST = settings(FAST, max_examples=8)


@pytest.mark.parametrize("branch", BRANCHES)
@FILES_FAST
@given(data=st.data())
def test_drawn_files_are_data_only(tmp_path_factory, branch, data):
    check_file(tmp_path_factory, data.draw(hostile_file(branch)))


@pytest.mark.fuzz
@pytest.mark.parametrize("branch", BRANCHES)
@settings(DEEP, max_examples=200)
@given(data=st.data())
def test_drawn_files_deep(tmp_path_factory, branch, data):
    check_file(tmp_path_factory, data.draw(hostile_file(branch)))


#: Cases the deep tier found, kept in the fast tier: (branch, file text, the change drawn).
#: A phase grid just under max_jobs points (four grids of four v at s = 2, m: all: 65,000 points)
#: at four depths was validated point by point and depth by depth, past the 10 s limit.
FOUND = [("rhm", "rhm:\n  phase_diagram:\n    grids:\n" + "".join(
    f"      - {{s: 2, v: [{', '.join(str(4096 - 4 * g - i) for i in range(4))}], m: all, "
    "L: [2, 3, 4, 5]}\n" for g in range(4)), "none")]


@pytest.mark.parametrize("branch, text, change", FOUND, ids=[f[0] for f in FOUND])
def test_files_the_deep_tier_found(tmp_path_factory, branch, text, change):
    check_file(tmp_path_factory, (text, change))
