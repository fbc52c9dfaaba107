"""Tests of hierphase.io: outputs honour the umask, stale temporaries are removed by the job that
writes the output, damaged files are named with what to do, and a crafted pickle is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import torch
from hostile import RunsCode

from hierphase import io, rhm

CURE = "corrupt or truncated, delete it and rerun"


@pytest.fixture
def umask():
    """Set the process umask for one test, restore it after."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_outputs_honour_the_umask(tmp_path, umask, mask):
    umask(mask)
    io.write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet", tmp_path / "t.csv")
    io.save_tensors(tmp_path / "x.pt", {"x": torch.ones(2)})
    expected = 0o666 & ~mask
    for name in ("t.parquet", "t.csv", "t.meta.json", "x.pt", "x.meta.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_a_library_saved_model_folder_honours_the_umask(tmp_path, umask):
    """What diffusers writes (safetensors makes its weight files 0o600) is opened up to the umask."""
    from diffusers import UNet2DModel

    umask(0o027)
    tiny = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
                       block_out_channels=(8,), down_block_types=("DownBlock2D",),
                       up_block_types=("UpBlock2D",), norm_num_groups=4)
    tiny.save_pretrained(tmp_path / "model", safe_serialization=True)
    files = [p for p in (tmp_path / "model").rglob("*") if p.is_file()]
    assert any(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)  # what the library does
    io.honour_umask(tmp_path / "model")
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o640}


def test_stale_temporaries_of_an_output_are_removed_when_it_is_written(tmp_path):
    stale = tmp_path / ".t.parquet.k3_x9q2z.tmp"  # what atomic_path leaves when a job is killed
    other_output = tmp_path / ".u.parquet.abcdefgh.tmp"  # another output's: not ours to delete
    not_ours = tmp_path / ".t.parquet.notes.tmp"  # wrong length of the random part
    for p in (stale, other_output, not_ours):
        p.write_text("half-written")
    assert io.remove_stale_temporaries(tmp_path / "t.parquet") == [stale]
    stale.write_text("half-written")
    io.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert not stale.exists() and other_output.exists() and not_ours.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == [
        not_ours.name, other_output.name]


def test_a_failed_write_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_path(tmp_path / "x.pt") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.95])
def test_truncated_tensor_file_is_named_with_the_cure(tmp_path, keep):
    path = tmp_path / "trees.pt"
    io.save_tensors(path, {"x": torch.arange(1000)})
    _truncate(path, keep)
    with pytest.raises(io.CorruptFileError, match=CURE) as err:
        io.load_tensors(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.95])
def test_truncated_parquet_is_named_with_the_cure(tmp_path, keep):
    path = tmp_path / "kept.parquet"
    io.write_table(pd.DataFrame({"a": range(100), "b": [0.5] * 100}), path)
    _truncate(path, keep)
    with pytest.raises(io.CorruptFileError, match=CURE) as err:
        io.read_table(path)
    assert str(path) in str(err.value)


def test_damaged_sidecar_is_named_with_the_cure(tmp_path):
    io.write_json(tmp_path / "x.meta.json", {"a": 1})
    _truncate(tmp_path / "x.meta.json")
    with pytest.raises(io.CorruptFileError, match=CURE):
        io.read_json(tmp_path / "x.meta.json")


def test_missing_files_stay_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        io.load_tensors(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        io.read_table(tmp_path / "nope.parquet")


def test_rules_file_empty_or_truncated_names_the_file(tmp_path):
    empty = tmp_path / "rules.pt"
    empty.write_bytes(b"")
    with pytest.raises(io.CorruptFileError, match=CURE) as err:
        rhm.load_rules(empty)
    assert str(empty) in str(err.value)
    path = tmp_path / "rules2.pt"
    rhm.save_rules(rhm.sample_rules(4, 2, 2, 2, seed=0), path)
    _truncate(path)
    with pytest.raises(io.CorruptFileError, match="rules2.pt"):
        rhm.load_rules(path)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    with open(path, "wb") as fh:
        torch.save({"model": {"w": torch.ones(1)}, "payload": RunsCode(marker)}, fh)
    with pytest.raises(ValueError, match="refused") as err:
        io.load_tensors(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_saved_tensors_are_byte_reproducible(tmp_path):
    data = {"x": torch.arange(10), "names": ["a", "b"], "n": 3}
    io.save_tensors(tmp_path / "a.pt", data)
    io.save_tensors(tmp_path / "b.pt", data)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
