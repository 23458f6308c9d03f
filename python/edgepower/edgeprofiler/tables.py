"""Mapping tables as CSV byte for byte as upstream's pandas writes them, and averages over cycles."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Tuple

import numpy as np

from .formats import COMPAT_COLUMNS, POWER_EXCL, PathLike, EP

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def pandas_module():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        raise ImportError("edgepower.edgeprofiler returns pandas DataFrames and pandas is missing: "
                          "pip install pandas (a dependency of edgepower: reinstall it with pip)") from None
    return pd


def write_bytes(path: PathLike, data: bytes) -> None:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise FileNotFoundError(f"cannot write {p}: folder {p.parent} does not exist")
    with open(p, "wb") as f:
        f.write(data)


def write_table(path: PathLike, df: "pd.DataFrame", layer_idx: np.ndarray, names: List[str],
                 types: List[str]) -> None:
    # Fast path for a table just built: names and types are already factorised.
    columns: List[Tuple[Any, ...]] = []
    for col in df.columns:
        if col == "layer_name":
            columns.append(("text", layer_idx, names))
        elif col == "layer_type":
            columns.append(("text", layer_idx, types))
        else:
            columns.append(_column_spec(df[col]))
    write_bytes(path, EP.render_csv(list(map(str, df.columns)), columns, len(df)))


def _column_spec(series: "pd.Series") -> Tuple[Any, ...]:
    pd = pandas_module()
    kind = series.dtype.kind
    if kind in "iu":
        return ("int", series.to_numpy(dtype=np.int64))
    if kind == "b":
        codes, uniques = pd.factorize(series.map(str))
        return ("text", codes.astype(np.int32), list(uniques))
    if kind == "f":
        return ("float", series.to_numpy(dtype=np.float64))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [str(u) for u in uniques] + [""]
    codes = np.where(codes < 0, len(texts) - 1, codes).astype(np.int32)
    return ("text", codes, texts)


def write_mapping_csv(df: "pd.DataFrame", path: PathLike) -> None:
    """Write a mapping table as upstream does (``DataFrame.to_csv(index=False)`` byte for byte).

    Floats are written as Python's ``repr`` (shortest round trip, e.g. ``5440000.0``), missing
    values as empty fields, integers in decimal, text quoted only when it holds ``,``, ``"`` or a
    line break. Rendering runs natively, so 100 000 rows take a few milliseconds.

    Parameters
    ----------
    df : pandas.DataFrame
        A table from :func:`map_power_to_layers` (or any table of numbers and text).
    path : path
        The CSV file to write.
    """
    columns = [_column_spec(df[c]) for c in df.columns]
    write_bytes(path, EP.render_csv([str(c) for c in df.columns], columns, len(df)))


def _filtered(df: "pd.DataFrame", cask_only: bool) -> "pd.DataFrame":
    missing = [c for c in ("layer_name", "layer_type", POWER_EXCL, "layer_run_time") if c not in df.columns]
    if missing:
        raise ValueError(f"not a mapping table: columns {missing} are missing (expected {COMPAT_COLUMNS})")
    if cask_only:
        return df[df["layer_type"].astype(str).str.startswith("Cask")]
    return df


def layer_averages(df: "pd.DataFrame", cask_only: bool = False) -> "pd.DataFrame":
    """Per-layer averages over cycles, as upstream's preprocessing computes them.

    Parameters
    ----------
    df : pandas.DataFrame
        A mapping table (:func:`map_power_to_layers`, or upstream's CSV read back).
    cask_only : bool
        Keep only layers whose type starts with ``Cask`` (TensorRT's convolution, pooling and
        GEMM kernels), as upstream's feature extraction does.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``layer_name`` (sorted): ``average_power`` (mean idle-excluded power over the
        cycles that have one, microwatts), ``average_run_time`` (ms, over all cycles), ``cycles``,
        ``cycles_with_power`` and ``layer_type``.
    """
    sub = _filtered(df, cask_only)
    g = sub.groupby("layer_name", sort=True)
    out = g.agg(average_power=(POWER_EXCL, "mean"), average_run_time=("layer_run_time", "mean"))
    out["cycles"] = g.size()
    out["cycles_with_power"] = g[POWER_EXCL].count()
    out["layer_type"] = g["layer_type"].first()
    return out


def layer_stats(df: "pd.DataFrame", column: str = POWER_EXCL, cask_only: bool = True) -> "pd.DataFrame":
    """Summary statistics of one column per layer, as upstream's ``<model>_average_*_stats.csv``.

    Parameters
    ----------
    df : pandas.DataFrame
        A mapping table.
    column : str
        The column to summarise: the idle-excluded power (default) or ``"layer_run_time"``.
    cask_only : bool
        Keep only ``Cask*`` layer types (upstream's default for these files).

    Returns
    -------
    pandas.DataFrame
        count, mean, std, min, 25%, 50%, 75%, max per ``layer_name`` (pandas ``describe``);
        ``to_csv()`` gives upstream's file.
    """
    sub = _filtered(df, cask_only)
    if column not in sub.columns:
        raise ValueError(f"no column {column!r} in the table")
    return sub.groupby("layer_name", sort=True)[column].describe()


__all__ = ["layer_averages", "layer_stats", "write_mapping_csv"]
