"""Days as proleptic ordinals, and their ISO text.

The model works on ``date.toordinal()`` integers; a row is rendered by looking the text up in a
table built once per run, which is much cheaper than formatting a ``date`` per field.
"""

from __future__ import annotations

from datetime import date


def add_years(day: int, years: int) -> int:
    """The same calendar day ``years`` later (29 February falls back to 28 February)."""
    d = date.fromordinal(day)
    try:
        return d.replace(year=d.year + years).toordinal()
    except ValueError:
        return d.replace(year=d.year + years, day=28).toordinal()


class DateText:
    """ISO ``YYYY-MM-DD`` text of every day from ``first`` to ``last`` (ordinals)."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.text = [date.fromordinal(d).isoformat() for d in range(first, last + 1)]

    def __call__(self, day: int) -> str:
        return self.text[day - self.first]
