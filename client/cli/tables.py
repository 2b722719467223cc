"""Tables that never break an id, a code or a time.

A column marked ``whole`` (ids, codes, times) is never wrapped: it takes the width of its widest
cell and the other columns wrap around it at spaces. When even that does not fit the terminal,
the rows are printed as records instead, one ``column: value`` a line and a blank line between
rows, so an id copied out of the output is always the id. Cells are plain text, never markup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Col", "print_table", "table_of"]


@dataclass(frozen=True)
class Col:
    """A column: its heading, and whether its values must stay whole (an id, a code, a time)."""

    name: str
    whole: bool = False


_PADDING = 2  # rich's default: one space either side of a cell
_BORDERS = 1  # one vertical line a column, and one closing the row


def _needed(column: Col, cells: Sequence[str]) -> tuple[int, int]:
    """The narrowest width ``column`` takes without breaking a word (a whole line, for a ``whole``
    column), and the width at which nothing in it wraps at all."""
    lines = [line for text in (column.name, *cells) for line in text.split("\n")]
    widest = max((cell_len(line) for line in lines), default=1)
    if column.whole:
        return max(cell_len(column.name.split(" ")[-1]), widest), widest
    return max((cell_len(word) for line in lines for word in line.split()), default=1), widest


def _widths(columns: Sequence[Col], rows: Sequence[Sequence[str]], room: int) -> list[int] | None:
    """Content widths that fit in ``room`` with no word broken, the slack shared out in proportion
    to what each column would still wrap; ``None`` when even the narrowest do not fit."""
    needs = [_needed(column, [row[number] for row in rows]) for number, column in enumerate(columns)]
    room -= len(columns) * (_PADDING + _BORDERS) + _BORDERS
    widths = [least for least, _ in needs]
    if sum(widths) > room:
        return None
    wants = [most - least for least, most in needs]
    slack = room - sum(widths)
    if sum(wants) <= slack:
        return [most for _, most in needs]
    total = sum(wants)
    for number, want in enumerate(wants):
        widths[number] += want * slack // total
    return widths


def table_of(columns: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None = None,
             widths: Sequence[int | None] | None = None) -> Table:
    """The rich table of ``rows``: ``whole`` columns ``no_wrap``, each column ``widths`` wide if given."""
    table = Table(title=title, title_justify="left")
    for number, column in enumerate(columns):
        table.add_column(column.name, no_wrap=column.whole, overflow="fold",
                         width=widths[number] if widths is not None else None)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _records(console: Console, columns: Sequence[Col], rows: Sequence[Sequence[str]], title: str | None) -> None:
    if title:
        console.print(Text(title, style="bold"))
    for number, row in enumerate(rows):
        if number:
            console.print()
        for column, cell in zip(columns, row, strict=True):
            if not cell:
                continue
            # Further lines of a cell (a list of ids) line up under its first.
            indent = " " * (len(column.name) + 2)
            console.print(Text(f"{column.name}: " + cell.replace("\n", "\n" + indent)), soft_wrap=True)


def print_table(console: Console, columns: Sequence[Col], rows: Sequence[Sequence[str]], *,
                title: str | None = None) -> None:
    """``rows`` as a table when the terminal is wide enough to hold every word (ids, codes and times
    included) unbroken, else as records."""
    widths = _widths(columns, rows, console.width)
    if widths is None:
        _records(console, columns, rows, title)
    else:
        console.print(table_of(columns, rows, title=title, widths=widths))
