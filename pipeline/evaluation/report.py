"""Plain-text and Markdown renderings of result tables."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(table: pd.DataFrame, digits: int = 4, index_name: str = "model") -> str:
    """A GitHub-flavoured Markdown table of ``table`` (index as the first column)."""
    header = [index_name, *map(str, table.columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|",
    ]
    for name, row in table.iterrows():
        cells = [str(name), *(_cell(v, digits) for v in row.tolist())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def text_table(
    table: pd.DataFrame,
    digits: int = 4,
    index_name: str = "model",
    notes: Mapping[str, str] | None = None,
) -> str:
    """A fixed-width table for the terminal; ``notes`` follow their row (by index name)."""
    header = [index_name, *map(str, table.columns)]
    rows = [[str(n), *(_cell(v, digits) for v in r.tolist())] for n, r in table.iterrows()]
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()  # an empty last cell (a summary's note) leaves no trailing blanks
    notes = notes or {}
    lines = [fmt(r) + (f"  ({notes[r[0]]})" if r[0] in notes else "") for r in rows]
    return "\n".join([fmt(header), *lines]) + "\n"
