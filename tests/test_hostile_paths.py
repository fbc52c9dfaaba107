"""Writes stay inside the allowed roots: hierphase.io.check_inside follows every symbolic link
(a folder or a file, at any depth) and names the one that leads out; the atomic writer refuses
to write through it; a results folder that is itself a link is allowed by naming it as a root."""

from __future__ import annotations

import os

import pytest

from hierphase import io
from hierphase.io import EscapingPathError


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "results" / "a" / "b").mkdir(parents=True)
    (work / "logs").mkdir()
    outside.mkdir()
    monkeypatch.chdir(work)
    return work, outside


ROOTS = ["results", "logs"]


def test_plain_paths_inside_pass_and_textual_escapes_are_refused(workdir):
    io.check_inside(["results/a/b/x.parquet", "logs/job.log", "results/new/deeper/y.pt"], ROOTS)
    with pytest.raises(EscapingPathError, match=r"results/\.\./elsewhere\.txt: lies outside"):
        io.check_inside(["results/../elsewhere.txt"], ROOTS)
    with pytest.raises(EscapingPathError, match="lies outside"):
        io.check_inside(["/etc/passwd"], ROOTS)


@pytest.mark.parametrize("depth", ["results", "results/a", "results/a/b"])
@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_link_out_at_any_depth_is_named(workdir, depth, kind):
    work, outside = workdir
    link = work / depth / ("escape" if kind == "folder" else "x.parquet")
    link.symlink_to(outside if kind == "folder" else outside / "x.parquet")
    target = link / "x.parquet" if kind == "folder" else link
    rel = os.path.relpath(target, work)
    with pytest.raises(EscapingPathError, match=f"symbolic link {link} -> {outside}"):
        io.check_inside([rel], ROOTS)
    with pytest.raises(EscapingPathError, match="symbolic link"):
        with io.atomic_path(rel, roots=ROOTS) as tmp:
            tmp.write_text("must not be written")
    assert list(outside.iterdir()) == []  # nothing was written outside


def test_links_inside_the_roots_and_a_configured_results_link_are_allowed(workdir, monkeypatch):
    work, outside = workdir
    (work / "results" / "alias").symlink_to(work / "results" / "a")
    io.check_inside(["results/alias/b/x.parquet"], ROOTS)
    # results itself a link to a scratch disk: allowed when the scratch folder is a root
    scratch = outside / "scratch"
    scratch.mkdir()
    (work / "results2").symlink_to(scratch)
    with pytest.raises(EscapingPathError, match="results2"):
        io.check_inside(["results2/x.parquet"], ROOTS)
    io.check_inside(["results2/x.parquet"], ["results2", "logs"])  # the root is resolved
    # the writer takes its roots from the environment when none are passed
    monkeypatch.setenv(io.WRITE_ROOTS_ENV, os.pathsep.join(ROOTS))
    io.write_json("results/a/ok.json", {"a": 1})
    (work / "results" / "out").symlink_to(outside)
    with pytest.raises(EscapingPathError, match="results/out"):
        io.write_json("results/out/bad.json", {"a": 1})
    assert list(outside.iterdir()) == [scratch]


def test_thousands_of_paths_resolve_each_folder_once(workdir, monkeypatch):
    """What keeps a check over every planned output fast: one realpath per distinct folder (and
    root), not per path (timed in the report, not here)."""
    paths = [f"results/a/b/shard{i}.parquet" for i in range(5000)]
    paths += [f"results/x{i % 50}/y/table{i}.parquet" for i in range(5000)]
    calls = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p, **kw: calls.append(p) or realpath(p, **kw))
    io.check_inside(paths, ROOTS)
    assert len(calls) == 2 + 1 + 50


def test_roots_must_be_given(workdir):
    with pytest.raises(ValueError, match="roots"):
        io.check_inside(["results/x"], [])
