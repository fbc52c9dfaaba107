"""Config files are data: nothing in one runs code, constructs an object, expands without bound,
or passes a value of the wrong type. Each case is an overlay file merged over config.yaml through
the planning module (what the Snakefile calls), in this process; every refusal names the file or
the key, within seconds. Also the check ``workflow/with-env.sh`` runs on every ``--configfile``
before Snakemake reads (and would evaluate) it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from hierphase.plan import ConfigError, load_plan, load_plan_files

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))

#: (case, overlay text, what the refusal must name) for files that are more than plain data
UNSAFE_FILES = [
    ("yte", "__use_yte__: true\nseed: ?__import__('os').getpid()\n", "__use_yte__"),
    ("yte-json", '{"__use_yte__": true, "seed": "?1"}', "__use_yte__"),
    ("object-tag", "seed: !!python/object/apply:os.system ['true']\n", "python/object/apply"),
    ("name-tag", "seed: !!python/name:os.getpid\n", "python/name"),
    ("custom-tag", "seed: !custom 3\n", "!custom"),
    ("set", "rhm: !!set {a: null}\n", "set"),
    ("date", "seed: 2024-01-01\n", "timestamp"),
    ("merge-key", "base: &b {seed: 1}\nrhm:\n  <<: *b\n", "<<"),
    ("bool-key", "rhm:\n  yes: 1\n", "'yes'"),
    ("int-key", "123: 1\n", "'123'"),
    ("null-key", "null: 1\n", "'null'"),
    ("alias-bomb", BOMB, "expands to more than"),
    ("self-alias", "rhm: &a [*a]\n", "alias refers"),
    ("deep", "[" * 50000, "nested too deeply"),
    ("duplicate", "seed: 1\nseed: 2\n", "given twice"),
]


@pytest.mark.parametrize("case,text,named", UNSAFE_FILES, ids=[c[0] for c in UNSAFE_FILES])
def test_unsafe_config_files_are_refused_naming_the_file(tmp_path, case, text, named):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_plan_files(path)
    assert time.monotonic() - start < 10
    assert str(path) in str(err.value) and named in str(err.value)


def test_with_env_check_refuses_before_snakemake_reads(tmp_path):
    """``python -m hierphase.plan FILE...`` (what with-env.sh runs on every --configfile): exit 1
    naming the file for a template, 0 for the presets."""
    bad = tmp_path / "templated.yaml"
    bad.write_text("__use_yte__: true\nseed: ?1 + 1\n")
    ok = subprocess.run([sys.executable, "-m", "hierphase.plan", "workflow/presets/smoke.yaml",
                         "workflow/presets/paper.yaml"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run([sys.executable, "-m", "hierphase.plan", "config.yaml", str(bad)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and str(bad) in refused.stderr


def test_with_env_passes_every_configfile_spelling_to_the_check():
    """The argument scan of with-env.sh, run on its own: every spelling Snakemake accepts."""
    script = open("workflow/with-env.sh").read()
    scan = script[script.index("configfiles=()"):script.index('if [ "${#configfiles[@]}"')]
    probe = scan + 'printf "%s\\n" "${configfiles[@]}"'
    out = subprocess.run(["bash", "-c", probe, "with-env", "snakemake", "-n", "--configfile",
                          "a.yaml", "b.yaml", "-c1", "--configfiles=c.yaml", "--configf", "d.yaml",
                          "all"], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["a.yaml", "b.yaml", "c.yaml", "d.yaml", "all"]


#: (case, overlay YAML, key the error must name): wrong types JSON Schema lets through
WRONG_TYPES = [
    ("float-seed", "seed: 0.0", "seed"),
    ("bool-seed", "seed: true", "seed"),
    ("float-max-jobs", "max_jobs: 1000.0", "max_jobs"),
    ("bool-number", "rhm: {correlations: {}}\nmax_mem_mb: false", "max_mem_mb"),
    ("learned-float-P",
     "learned: {experiments: {x: {v: 8, m: 3, s: 2, L: 3, processes: [masking], P: [64.0]}}}",
     "learned.experiments.x.P.0"),
    ("learned-duplicate-P",
     "learned: {experiments: {x: {v: 8, m: 3, s: 2, L: 3, processes: [masking], P: [64, 64]}}}",
     "learned.experiments.x.P"),
    ("learned-duplicate-seeds",
     "learned: {experiments: {x: {v: 8, m: 3, s: 2, L: 3, processes: [masking], P: [64], "
     "seeds: [0, 0]}}}", "learned.experiments.x.seeds"),
    ("newline-name",
     'learned: {experiments: {"x\\n": {v: 8, m: 3, s: 2, L: 3, processes: [masking], P: [64]}}}',
     "learned.experiments"),
]


@pytest.mark.parametrize("case,text,key", WRONG_TYPES, ids=[c[0] for c in WRONG_TYPES])
def test_wrong_types_are_refused_naming_the_key(tmp_path, case, text, key):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_plan_files(path)
    assert err.value.key is not None and err.value.key.startswith(key), err.value


def test_non_string_keys_given_in_process_are_refused_naming_them():
    """``--config`` values and the Python API skip the file reader: the plan refuses them too."""
    with pytest.raises(ConfigError, match="key must be a string") as err:
        load_plan({"seed": 0, "rhm": {None: 1}})
    assert err.value.key == "rhm.None"


@pytest.mark.parametrize("name", ["a" * 64, "run" + "ab" * 20])
def test_periodic_names_are_refused_naming_the_key(tmp_path, name):
    """Snakemake refuses a wildcard value whose end repeats one piece 20 times (it takes it for a
    recursion): refused at planning, naming the experiment."""
    path = tmp_path / "periodic.yaml"
    path.write_text(f"learned: {{experiments: {{{name}: {{v: 8, m: 3, s: 2, L: 3, "
                    "processes: [masking], P: [64]}}}\n")
    with pytest.raises(ConfigError, match="PeriodicWildcardError") as err:
        load_plan_files(path)
    assert name in err.value.key


def test_names_just_short_of_periodic_are_accepted(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("learned: {experiments: {" + "a" * 19 + ": {v: 8, m: 3, s: 2, L: 3, "
                    "processes: [masking], P: [64]}}}\n")
    assert "learned.experiments." + "a" * 19 + ".P" in load_plan_files(path).jobs()


@pytest.mark.parametrize("grid", ["{s: 3, v: [4096], m: all, L: [2, 3]}",
                                  "{s: 8, v: [4096], m: all, L: [2, 3]}"])
def test_job_counts_are_arithmetic_before_any_enumeration(tmp_path, grid):
    """A phase grid of 16 million (or 10^25) points is refused by its count, in well under 10 s."""
    path = tmp_path / "grid.yaml"
    path.write_text(f"rhm:\n  phase_diagram:\n    grids:\n      - {grid}\n")
    start = time.monotonic()
    with pytest.raises(ConfigError, match="max_jobs") as err:
        load_plan_files(path)
    assert time.monotonic() - start < 10 and err.value.key == "rhm.phase_diagram.grids"


def test_links_out_of_results_are_refused_naming_the_link(tmp_path, monkeypatch):
    """Before any job: a link at any depth below results/ or logs/ leading out of both is
    refused, naming it; results/ itself may be a link (a scratch disk, on purpose)."""
    pytest.importorskip("snakemake")
    from hierphase.plan.workflow import check_links_inside

    outside, scratch, work = tmp_path / "outside", tmp_path / "scratch", tmp_path / "work"
    for folder in (outside, scratch / "rhm" / "main", work / "logs"):
        folder.mkdir(parents=True)
    (work / "results").symlink_to(scratch)
    monkeypatch.chdir(work)
    planned = ["results/rhm/main/table.parquet", "logs/rhm"]
    check_links_inside(planned)
    (scratch / "rhm" / "main" / "shards").symlink_to(outside)
    with pytest.raises(ValueError, match="shards"):
        check_links_inside(planned)  # found by the walk: no planned path passes through it yet
    (scratch / "rhm" / "main" / "shards").unlink()
    (work / "logs" / "rhm").symlink_to(outside)
    with pytest.raises(ValueError, match="logs/rhm"):
        check_links_inside(planned)


@pytest.mark.parametrize("overlay,key", [
    ("rhm:\n  controls:\n    gaussian_field: {shape: [4096, 4096]}\n",
     "rhm.controls.gaussian_field.shape"),
    ("images:\n  data: {image_size: 1024}\n  model: {train: {batch_size: 65536}}\n",
     "images.model.train.batch_size"),
    ("images:\n  data: {image_size: 64}\n  classifier: {train: {batch_size: 65536}}\n",
     "images.classifier.train.batch_size"),
    ("rhm:\n  experiments:\n    main: {batch_size: 1000000}\n", "rhm.experiments.main.batch_size"),
    ("rhm:\n  experiments:\n    main: {n_samples: 10000000, L: [12]}\n",
     "rhm.experiments.main.n_samples"),
    ("max_mem_mb: 2000\nrhm:\n  experiments:\n    main: {correlations: {n_traj: 100000}}\n",
     "rhm.experiments.main.correlations.n_traj"),
    ("rhm:\n  controls:\n    flat_mixture: {d: 65536, n_classes: 4096, v: 4096}\n",
     "rhm.controls.flat_mixture.d"),
    ("rhm:\n  phase_diagram: {n_samples: 10000000}\n", "rhm.phase_diagram.n_samples"),
    ("learned:\n  training: {batch_size: 1000000}\n", "learned.training.batch_size"),
    ("max_mem_mb: 8000\nlearned:\n  evaluation: {n_sweep: 10000000}\n",
     "learned.evaluation.n_sweep"),
    ("max_mem_mb: 8000\nlearned:\n  sampling: {batch_size: 1000000}\n"
     "  evaluation: {n_sweep: 1000000}\n", "learned.sampling.batch_size"),
    ("max_mem_mb: 7000\nimages:\n  data: {image_size: 128}\n  n_per_class: 35\n  shard_size: 350\n"
     "  batch_size: 65536\n  model: {train: {batch_size: 1}}\n  classifier: {train: {batch_size: 1}}\n",
     "images.batch_size"),
    ("images:\n  quality: {n_samples: 1000000}\n", "images.quality.n_samples"),
    ("max_mem_mb: 2000\nimages:\n  correlations: {n_traj: 100000}\n",
     "images.correlations.n_traj"),
    ("max_mem_mb: 3000\nimages:\n  data: {image_size: 64}\n"
     "  correlations: {n_traj: 64, batch_size: 65536}\n", "images.correlations.batch_size"),
    # the feature statistics classify every image in batches: shards of one image leave the
    # sweeps and measurements small
    ("max_mem_mb: 14000\nimages:\n  data: {image_size: 192}\n  n_per_class: 35\n"
     "  shard_size: 1\n  k_grid: [0]\n  batch_size: 65536\n  correlations: {enabled: false}\n"
     "  model: {train: {batch_size: 1}}\n  classifier: {train: {batch_size: 1}}\n",
     "images.batch_size"),
])
def test_heavy_jobs_are_checked_against_max_mem_mb(tmp_path, overlay, key):
    """Every heavy job (BP sweeps, their data, correlation sweeps, the controls, the phase
    diagram, the learned and the digits trainings), from the package's own estimates
    (:mod:`hierphase.memory`), refused before any job when it needs more than max_mem_mb,
    naming the key that sizes it."""
    path = tmp_path / "heavy.yaml"
    path.write_text(overlay)
    start = time.monotonic()
    with pytest.raises(ConfigError, match="max_mem_mb") as err:
        load_plan_files(path)
    assert err.value.key == key and time.monotonic() - start < 10
