"""Readers check every table against its declared layout (hierphase.tables.TABLES) and name the
file: a shard replaced by another table's parquet (alone, or with its sidecar), a column of the
wrong kind, an unknown layout in a sidecar are refused, never merged into NaN rows."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from hierphase import io, tables
from hierphase.tables import TableSchemaError


def _kept_shard(rule_seed: int = 0) -> pd.DataFrame:
    rows = [{"experiment": "x", "model": "bp", "process": "epsilon", "L": 3, "rule_seed": rule_seed,
             "level": level, "noise": 0.25, "t": math.nan, "t_over_T": math.nan,
             "kept_marginal": 0.8, "kept_sampled": 0.75, "ci_low": 0.6, "ci_high": 0.9, "n": 40}
            for level in range(4)]
    return pd.DataFrame(rows, columns=tables.KEPT_COLUMNS)


def _theory() -> pd.DataFrame:
    return pd.DataFrame({"v": [8], "m": [3], "s": [2], "L": [3], "level": [0], "eps": [0.1],
                         "kept": [0.9]})[tables.THEORY_COLUMNS]


def test_every_layout_is_declared_once_with_a_kind_per_column():
    layouts = [frozenset(cols) for cols in tables.TABLES.values()]
    assert len(set(layouts)) == len(layouts)  # no two names for one layout
    for name, cols in tables.TABLES.items():
        assert len(set(cols)) == len(cols), name
        assert {tables.column_kind(c) for c in cols} <= {"str", "bool", "number"}
    # the modules that build these tables use the registry's lists, not copies
    from hierphase.learned import curves, evaluate
    from hierphase.stages import images
    assert images.MEASURE_COLUMNS is tables.MEASURE_COLUMNS
    assert evaluate.VALIDITY_COLUMNS is tables.VALIDITY_COLUMNS
    assert curves.SAMPLE_COMPLEXITY_COLUMNS is tables.SAMPLE_COMPLEXITY_COLUMNS


def test_write_table_records_the_layout_and_read_table_checks_it(tmp_path):
    path = tmp_path / "shard.parquet"
    io.write_table(_kept_shard(), path)
    assert io.read_sidecar(path)["table"] == "kept"
    pd.testing.assert_frame_equal(io.read_table(path, "kept"), _kept_shard())
    with pytest.raises(TableSchemaError, match=r"other\.parquet"):
        io.write_table(_theory(), tmp_path / "other.parquet", table="kept")
    assert not (tmp_path / "other.parquet").exists()  # refused before anything was written


@pytest.mark.parametrize("copied", ["parquet only", "parquet and sidecar"])
def test_a_shard_replaced_by_another_tables_parquet_is_refused_naming_it(tmp_path, copied):
    shards = [tmp_path / f"shard{i}.parquet" for i in range(3)]
    for i, path in enumerate(shards):
        io.write_table(_kept_shard(i), path)
    other = tmp_path / "theory.parquet"
    io.write_table(_theory(), other)
    shutil.copyfile(other, shards[1])
    if copied == "parquet and sidecar":
        shutil.copyfile(io.sidecar_path(other), io.sidecar_path(shards[1]))
    with pytest.raises(TableSchemaError, match=r"shard1\.parquet"):
        pd.concat([io.read_table(p, "kept") for p in shards])
    if copied == "parquet only":  # without the expected layout, the sidecar gives it away
        with pytest.raises(TableSchemaError, match=r"shard1\.parquet.*sidecar"):
            io.read_table(shards[1])
    # what the RHM aggregation reads (as workflow/scripts/rhm_aggregate.py does)
    from hierphase.stages.rhm import aggregate_kept
    with pytest.raises(TableSchemaError, match=r"shard1\.parquet"):
        aggregate_kept(io.read_table(p, "kept") for p in shards)


def test_a_shard_without_sidecar_is_checked_against_the_expected_layout(tmp_path):
    path = tmp_path / "shard.parquet"
    _theory().to_parquet(path)
    with pytest.raises(TableSchemaError, match=r"shard\.parquet.*missing columns.*'theory'"):
        io.read_table(path, "kept")


@pytest.mark.parametrize("column, values", [("L", ["3"] * 4), ("experiment", [1, 2, 3, 4]),
                                            ("n", [True, False, True, True])])
def test_a_column_of_the_wrong_kind_is_refused(tmp_path, column, values):
    path = tmp_path / "shard.parquet"
    df = _kept_shard()
    df[column] = values
    df.to_parquet(path)
    with pytest.raises(TableSchemaError, match=rf"shard\.parquet.*mistyped columns.*{column}"):
        io.read_table(path, "kept")


def test_missing_values_and_nullable_ints_are_numbers(tmp_path):
    df = _kept_shard()
    df["rule_seed"] = pd.array([pd.NA] * 4, dtype="Int64")
    df["kept_marginal"] = np.nan
    path = tmp_path / "shard.parquet"
    io.write_table(df, path, table="kept")
    assert io.read_table(path, "kept")["rule_seed"].isna().all()


def test_a_sidecar_naming_an_unknown_layout_is_refused(tmp_path):
    path = tmp_path / "shard.parquet"
    io.write_table(_kept_shard(), path)
    meta = io.read_sidecar(path)
    io.write_json(io.sidecar_path(path), {**meta, "table": "no such table"})
    with pytest.raises(TableSchemaError, match=r"shard\.parquet"):
        io.read_table(path)


def test_a_per_image_kept_column_is_a_boolean_in_the_measure_table():
    """The images branch's per-shard ``kept`` is one boolean per image (class kept or not); the
    same name is a fraction in every aggregated table."""
    assert tables.column_kind("kept", "measure") == "bool"
    assert tables.column_kind("kept", "class_kept") == "number"
    assert tables.column_kind("kept") == "number"


def test_a_measure_shard_with_boolean_kept_reads_back(tmp_path):
    """A shard as the images sweep writes it (``kept`` a boolean per image) is accepted."""
    values = {"str": ["a", "b"], "bool": [True, False], "number": [1.0, 2.0]}
    df = pd.DataFrame({c: values[tables.column_kind(c, "measure")]
                       for c in tables.TABLES["measure"]})
    path = tmp_path / "shard.parquet"
    io.write_table(df, path, table="measure")
    assert io.read_table(path, "measure")["kept"].dtype == bool
