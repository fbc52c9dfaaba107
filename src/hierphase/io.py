"""Atomic, reproducible file output: tables, tensors and their JSON sidecars.

Every writer goes through :func:`atomic_path`: data are written to a temporary file in the target's
folder (``.<name>.<random>.tmp``, readable as the umask allows) and renamed into place, so a killed
job never leaves a half-written output; temporaries a killed job left behind are removed the next
time that output is written (:func:`remove_stale_temporaries`). Every output
``<stem>.<ext>`` gets a sidecar ``<stem>.meta.json`` holding the config it came from, its seed and
the versions of the packages that made it (no timestamps, so reruns are byte-identical).

Every write can be confined to allowed roots (:func:`check_inside`; the atomic writer checks its
target against :func:`write_roots`, the folders named by ``HIERPHASE_WRITE_ROOTS``): a symbolic
link inside ``results/`` (a folder or a file, at any depth) that leads elsewhere is refused,
naming the link, instead of being written through.

Every reader names the file when it cannot be read and says what to do (:class:`CorruptFileError`);
tensors are loaded with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists, tuples
and dicts only, so a crafted file cannot run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CorruptFileError",
    "EscapingPathError",
    "WRITE_ROOTS_ENV",
    "check_inside",
    "write_roots",
    "atomic_path",
    "remove_stale_temporaries",
    "honour_umask",
    "sidecar_path",
    "package_versions",
    "write_sidecar",
    "read_sidecar",
    "write_json",
    "read_json",
    "read_yaml_strict",
    "write_table",
    "read_table",
    "save_tensors",
    "save_torch",
    "load_tensors",
    "unreadable",
]


class CorruptFileError(RuntimeError):
    """A file exists but cannot be read (half-written, truncated, not the expected format)."""


def unreadable(path: str | os.PathLike, err: BaseException,
               hint: str = "delete it and rerun") -> CorruptFileError:
    """The error to raise when ``path`` cannot be read: names the file, the cause and the cure."""
    return CorruptFileError(f"{path}: cannot be read ({type(err).__name__}: {err}); "
                            f"the file is corrupt or truncated, {hint}")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of output ``path`` that a killed job left in its folder (the
    ``.<name>.<random>.tmp`` files of :func:`atomic_path`); return what was removed. Only the job
    that owns ``path`` may call this (Snakemake runs one job per output at a time)."""
    target = Path(path)
    pattern = re.compile(re.escape(f".{target.name}.") + r"[A-Za-z0-9_]{8}" + re.escape(".tmp"))
    removed = []
    if target.parent.is_dir():
        for candidate in target.parent.iterdir():
            if pattern.fullmatch(candidate.name) and candidate.is_file():
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(folder: str | os.PathLike) -> None:
    """Give every file under ``folder`` the mode a plain ``open`` would (``0o666`` less the
    umask), for files written by libraries that make them private (safetensors makes ``0o600``)."""
    mode = 0o666 & ~_umask()
    for path in Path(folder).rglob("*"):
        if path.is_file():
            path.chmod(mode)


class EscapingPathError(ValueError):
    """A path resolves (following its symbolic links) outside the folders it must stay in."""


#: Environment variable naming the folders every atomic write must resolve inside
#: (``os.pathsep``-separated, relative to the working directory); unset: no confinement.
WRITE_ROOTS_ENV = "HIERPHASE_WRITE_ROOTS"


def write_roots() -> tuple[str, ...] | None:
    """The folders :func:`atomic_path` confines writes to (``HIERPHASE_WRITE_ROOTS``), or None."""
    value = os.environ.get(WRITE_ROOTS_ENV)
    if not value:
        return None
    return tuple(r for r in value.split(os.pathsep) if r)


def _inside(resolved: str, roots: tuple[str, ...]) -> bool:
    return any(resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep)
               for root in roots)


def _escaping_link(path: str, roots: tuple[str, ...]) -> tuple[str, str] | None:
    """The first symbolic link along ``path`` (absolute, not resolved) whose target resolves
    outside ``roots``, as (link, target), or None when no link leads out."""
    parts = Path(path).parts
    current = Path(parts[0])
    for part in parts[1:]:
        current = current / part
        if os.path.islink(current):
            target = os.path.realpath(current)
            if not _inside(target, roots):
                return str(current), target
    return None


def check_inside(paths, roots) -> None:
    """Refuse any of ``paths`` that resolves (``realpath``: every symbolic link followed, ``..``
    removed) outside all of ``roots``; raises :class:`EscapingPathError` naming the path and the
    link that leads out (or the ``..`` that does). Relative paths and roots are taken from the
    working directory; the roots themselves may be links (a results folder on a scratch disk is
    allowed by naming it as a root). Made to be called once over every planned output: the
    folders are resolved once each (thousands of paths take milliseconds)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    resolved_roots = tuple(os.path.realpath(os.fspath(r)) for r in roots)
    if not resolved_roots:
        raise ValueError("roots must name at least one folder")
    cwd = os.getcwd()
    folders: dict[str, str] = {}
    for path in paths:
        head, name = os.path.split(os.path.join(cwd, os.fspath(path)))
        folder = folders.get(head)
        if folder is None:
            folder = folders[head] = os.path.realpath(head)
        full = os.path.join(folder, name)
        resolved = os.path.realpath(full) if os.path.islink(full) or name in ("..", ".") else full
        if _inside(resolved, resolved_roots):
            continue
        where = ", ".join(map(str, roots))
        link = _escaping_link(os.path.join(cwd, os.fspath(path)), resolved_roots)
        if link is None:
            raise EscapingPathError(f"{path}: lies outside {where} (resolves to {resolved})")
        raise EscapingPathError(f"{path}: leads outside {where} through the symbolic link "
                                f"{link[0]} -> {link[1]}; remove the link (or name its target "
                                "as a root) and rerun")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, roots=None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    ``path`` must resolve inside ``roots`` (default :func:`write_roots`; None: anywhere), else
    :class:`EscapingPathError` names the link that leads out, before anything is created.
    Stale temporaries of ``path`` are removed first; the result has the mode a plain ``open``
    would give it (``0o666`` less the umask; ``mkstemp`` alone makes ``0o600``)."""
    roots = write_roots() if roots is None else roots
    if roots is not None:
        check_inside([path], roots)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def sidecar_path(path: str | os.PathLike) -> Path:
    """``results/x/table.parquet`` -> ``results/x/table.meta.json``."""
    p = Path(path)
    return p.with_name(p.name.split(".")[0] + ".meta.json")


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the numbers depend on."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("hierphase", "numpy", "torch", "pandas", "numba", "diffusers", "torchvision"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as sorted, indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object at ``path``; a file that is not one (binary, truncated, a list) raises
    :class:`CorruptFileError` naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise unreadable(path, err) from err
    if not isinstance(data, dict):
        raise unreadable(path, TypeError(f"holds a {type(data).__name__}, not a JSON object"))
    return data


#: The YAML tags a config file may use: plain scalars, mappings and lists. Any other tag (explicit
#: ``!!python/...`` or ``!custom``, ``!!set``, ``!!binary``, the merge key ``<<``, an unquoted date)
#: would construct an object or change the data's shape silently.
PLAIN_YAML_TAGS = frozenset(f"tag:yaml.org,2002:{t}"
                            for t in ("str", "int", "float", "bool", "null", "map", "seq"))

#: The most nodes a YAML file may expand to once its aliases are followed (an alias bomb of a few
#: hundred bytes expands to billions); config files have a few thousand.
MAX_YAML_NODES = 100_000


def _plain_yaml_node(root, max_nodes: int) -> None:
    """Refuse a composed YAML document that is more than plain data: a tag outside
    :data:`PLAIN_YAML_TAGS`, a mapping key that is not a string, a ``__use_yte__`` key (Snakemake
    would evaluate the file as a YTE template), an alias that refers to itself, or more than
    ``max_nodes`` nodes once the aliases are expanded. Visits each distinct node once."""
    import yaml

    size: dict[int, int] = {}
    stack = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        line = node.start_mark.line + 1
        if done:
            open_nodes.discard(id(node))
            children = ([n for pair in node.value for n in pair]
                        if isinstance(node, yaml.MappingNode) else node.value)
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            if size[id(node)] > max_nodes:
                raise ValueError(f"expands to more than {max_nodes} values once its aliases are "
                                 f"followed (line {line}); write the data out instead")
            continue
        if id(node) in size:
            continue
        if id(node) in open_nodes:
            raise ValueError(f"an alias refers to the node that contains it (line {line})")
        if node.tag not in PLAIN_YAML_TAGS:
            tag = "<<" if node.tag.endswith(":merge") else node.tag
            raise ValueError(f"the tag {tag} (line {line}) is not plain data: a config file holds "
                             "only strings, numbers, booleans, null, mappings and lists (quote "
                             "the value if it is a string)")
        if isinstance(node, yaml.ScalarNode):
            size[id(node)] = 1
            continue
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                if key.tag.endswith(":merge"):
                    raise ValueError(f"the merge key << (line {key.start_mark.line + 1}) is not "
                                     "allowed: write the keys out")
                if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                    shown = key.value if isinstance(key, yaml.ScalarNode) else "a mapping or list"
                    raise ValueError(f"the key {shown!r} (line {key.start_mark.line + 1}) is not a "
                                     "string; quote it")
                if key.value == "__use_yte__":
                    raise ValueError(f"__use_yte__ (line {key.start_mark.line + 1}): a config file "
                                     "is data, never a template to evaluate; remove the key")
        open_nodes.add(id(node))
        stack.append((node, True))
        children = ([n for pair in node.value for n in pair]
                    if isinstance(node, yaml.MappingNode) else node.value)
        stack.extend((c, False) for c in children if id(c) not in size)


def read_yaml_strict(path: str | os.PathLike, max_nodes: int = MAX_YAML_NODES) -> Any:
    """A YAML (or JSON) file read as plain data only. Refuses, with a ValueError naming the file's
    key or line: a key given twice in one mapping (plain YAML loaders keep the last one silently),
    any tag beyond plain scalars, mappings and lists (objects, sets, dates, merge keys), a key
    that is not a string (``yes:``, ``123:``, ``null:``), YTE templating (``__use_yte__``), and
    aliases that expand past ``max_nodes`` values. Nothing is constructed before the whole
    document has passed these checks; JSON is read as JSON first, as Snakemake reads it."""
    import yaml

    def pairs_once(pairs):
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise _DuplicateKey(f"key {key!r} is given twice in one mapping; the last would "
                                    "win silently")
        if "__use_yte__" in keys:
            raise _DuplicateKey("__use_yte__: a config file is data, never a template to "
                                "evaluate; remove the key")
        return dict(pairs)

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise ValueError(f"key {key!r} is given twice in one mapping (line "
                                     f"{key_node.start_mark.line + 1}); the last would win silently")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text, object_pairs_hook=pairs_once)
    except _DuplicateKey as e:
        raise ValueError(str(e)) from None
    except RecursionError:
        raise ValueError("is nested too deeply to be a config file") from None
    except ValueError:
        pass
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _plain_yaml_node(node, max_nodes)
        return loader.construct_document(node)
    except RecursionError:
        raise ValueError("is nested too deeply to be a config file") from None
    except yaml.YAMLError as e:
        raise ValueError(f"is not valid YAML: {e}") from None
    finally:
        loader.dispose()


class _DuplicateKey(ValueError):
    """A JSON object with a key given twice (told apart from a file that is not JSON)."""


def write_sidecar(path: str | os.PathLike, config: Mapping[str, Any] | None = None,
                  seed: int | None = None, **extra: Any) -> Path:
    """Write the sidecar of output ``path``: its config, seed, package versions and ``extra``."""
    meta = {"output": Path(path).name, "config": config or {}, "seed": seed,
            "versions": package_versions(), **extra}
    side = sidecar_path(path)
    write_json(side, meta)
    return side


def read_sidecar(path: str | os.PathLike, *required: str) -> dict[str, Any]:
    """The sidecar of output ``path``, which must hold the keys ``required``; one that is not a
    JSON object, or lacks them, raises :class:`CorruptFileError` naming the sidecar."""
    side = sidecar_path(path)
    meta = read_json(side)
    missing = [key for key in required if key not in meta]
    if missing:
        raise unreadable(side, KeyError(f"it has no {', '.join(missing)}"),
                         f"delete it and {Path(path).name}, and rerun")
    return meta


def write_table(df: pd.DataFrame, parquet: str | os.PathLike, csv: str | os.PathLike | None = None,
                config: Mapping[str, Any] | None = None, seed: int | None = None,
                table: str | None = None, **extra: Any) -> None:
    """Write ``df`` as parquet (and CSV for humans) atomically, plus the sidecar.

    ``table``: the registered layout ``df`` must have (:data:`hierphase.tables.TABLES`; checked
    before anything is written); by default the layout whose columns ``df`` has, if any. The
    sidecar records it (``table``) with the columns, for :func:`read_table` to check."""
    from hierphase.tables import check_table, layout_of

    df = df.reset_index(drop=True)
    if table is not None:
        check_table(df, table, parquet)
    else:
        table = layout_of(df.columns)
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    if csv is not None:
        with atomic_path(csv) as tmp:
            df.to_csv(tmp, index=False, float_format="%.10g")
    if table is not None:
        extra = {"table": table, **extra}
    write_sidecar(parquet, config=config, seed=seed, rows=len(df), columns=list(df.columns), **extra)


def read_table(path: str | os.PathLike, table: str | None = None) -> pd.DataFrame:
    """A table written by :func:`write_table` (parquet, or CSV by its suffix), checked.

    ``table``: the registered layout the caller expects (:data:`hierphase.tables.TABLES`): the
    file must have its columns and their kinds. Without it, the layout its sidecar records is
    checked; and a file whose columns are not those its sidecar lists (another table's file
    copied over it) is refused. Raises :class:`hierphase.tables.TableSchemaError` naming the file."""
    import pandas as pd

    from hierphase.tables import TableSchemaError, check_table

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table")
    try:
        df = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as err:  # pyarrow and pandas raise many kinds for a damaged file
        raise unreadable(path, err) from err
    side = sidecar_path(path)
    meta = read_json(side) if side.is_file() else {}
    listed = meta.get("columns") if isinstance(meta, dict) else None
    if isinstance(listed, list) and list(df.columns) != listed:
        raise TableSchemaError(f"{path}: its columns {list(df.columns)} are not those its sidecar "
                               f"{side.name} lists ({listed}): another table's file was put in "
                               "its place; delete it (or restore the right file) and rerun")
    recorded = meta.get("table") if isinstance(meta, dict) else None
    if table is not None and recorded is not None and recorded != table:
        raise TableSchemaError(f"{path}: its sidecar says it is a {recorded!r} table, expected "
                               f"{table!r}; delete it (or restore the right file) and rerun")
    expected = table or recorded
    return check_table(df, expected, path) if expected is not None else df


def save_tensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None, seed: int | None = None,
                 **extra: Any) -> None:
    """Save a dict of tensors (lists of tensors allowed) with ``torch.save``, atomically, plus sidecar."""
    save_torch(path, dict(tensors))
    write_sidecar(path, config=config, seed=seed, **extra)


def _canonical(obj: Any) -> Any:
    """``obj`` rebuilt with every string interned, so that equal strings are one object.

    ``torch.save`` pickles, and pickle writes a string once and refers back to it where the *same
    object* comes again: a state built in memory (literal keys, one object) and the same state
    loaded back from a file (a fresh object per occurrence) pickle to different bytes. Interned,
    equal values pickle alike whatever their history (mappings keep their type and attributes,
    e.g. the ``_metadata`` of a ``state_dict``)."""
    if isinstance(obj, str):
        return sys.intern(str(obj))
    if isinstance(obj, dict):
        out = type(obj)((_canonical(k), _canonical(v)) for k, v in obj.items())
        for name, value in getattr(obj, "__dict__", {}).items():
            setattr(out, name, _canonical(value))
        return out
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, tuple) and type(obj) is tuple:
        return tuple(_canonical(v) for v in obj)
    return obj


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)`` at ``path``, atomically, with bytes that depend on ``obj``'s value only
    (not on whether it was built in memory or loaded from a file, see :func:`_canonical`): a
    resumed training run writes the very bytes of an uninterrupted one."""
    import torch  # imported here: table and figure jobs need no torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # A file object, not a path: torch records a path's (random, temporary) name in the archive.
        torch.save(_canonical(obj), fh)


def load_tensors(path: str | os.PathLike, hint: str = "delete it and rerun") -> Any:
    """What :func:`save_tensors` (or any ``torch.save``) wrote at ``path``, on the CPU.

    Loaded with ``weights_only=True``: tensors, numbers, strings, lists, tuples and dicts, never
    code. A file holding anything else is refused (ValueError naming it); one that cannot be read
    raises :class:`CorruptFileError` with ``hint`` (what to do about it)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Weights only" in str(err):
            raise ValueError(f"{path}: refused, it holds objects other than tensors, numbers, "
                             "strings, lists and dicts (loading it could run code)") from err
        raise unreadable(path, err, hint) from err
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        raise unreadable(path, err, hint) from err
