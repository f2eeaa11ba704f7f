"""Typed pandas frames built from query rows, with the same dtypes when empty."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

#: dtype names used by the store's frames; times are tz-aware UTC.
TIME = "datetime64[us, UTC]"

#: Column name -> dtype (a dtype name, or ``object`` / ``bool``), in frame order.
Dtypes = Mapping[str, str | type]


def typed_frame(rows: Iterable[Sequence], dtypes: Dtypes) -> pd.DataFrame:
    """A frame with ``dtypes``' columns in order, cast to those dtypes (empty-safe)."""
    # Build as object first: pandas 3 would infer "str" columns and turn None into NaN.
    frame = pd.DataFrame(list(rows), columns=list(dtypes), dtype=object)
    for column, dtype in dtypes.items():
        if dtype == TIME:
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(TIME)
        elif dtype is object:
            frame[column] = frame[column].astype(object)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame
