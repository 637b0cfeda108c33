"""Data-entry errors of every row-level kind of the export contract, injected at a given rate.

Which kinds an object can carry, and in which columns, follows from ``fiw.contract``: a bad date
needs a date column, an unknown code a coded column, end before start an ``Interval`` rule, a close
date without its reason a ``PresentTogether`` rule, a dangling reference a reference column, and
out of range a ``Range`` rule. Whether a row is spoiled and how depends only on the seed, the
object and the row's key, so a bad record stays the same bad record in every snapshot.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from fiw.contract import DATE, OBJECTS, Interval, PresentTogether, Range, code_list

BAD_CODES = ("Z", "99", "N10", "RC10", "E4", "X2", "NK", "n/a")
MASK = (1 << 64) - 1


def applicable_kinds(name: str) -> tuple[str, ...]:
    """The kinds of error a row of object ``name`` can carry."""
    obj = OBJECTS[name]
    rules = obj.rules
    kinds = ["pk_null", "pk_duplicate"]
    kinds += ["bad_date"] * any(c.kind == DATE for c in obj.columns)
    kinds += ["unknown_code"] * any(c.codes for c in obj.columns)
    kinds += ["end_before_start"] * any(isinstance(x, Interval) for x in rules)
    kinds += ["close_without_reason"] * any(isinstance(x, PresentTogether) for x in rules)
    kinds += ["dangling_reference"] * any(c.references for c in obj.columns)
    kinds += ["out_of_range"] * any(isinstance(x, Range) for x in rules)
    return tuple(kinds)


def _mix(value: int) -> int:
    """splitmix64: a well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


class Spoiler:
    """Spoils about ``rate`` of the rows of one object, deterministically by seed and key."""

    def __init__(self, name: str, seed: int, rate: float) -> None:
        obj = OBJECTS[name]
        self.obj = obj
        self.names = obj.column_names
        self.pk = self.names.index(obj.primary_key)
        self.kinds = applicable_kinds(name)
        self.salt = _mix(seed * 1_000 + list(OBJECTS).index(name))
        self.threshold = int(rate * (1 << 64))
        self.counts: Counter[str] = Counter()

    def spoil(self, rows: list[list[str]]) -> None:
        """Spoil the chosen rows in place, counting each kind in ``counts``."""
        if not self.threshold:
            return
        for n, row in enumerate(rows):
            key = _mix(self.salt ^ int(row[self.pk]))
            if key < self.threshold:
                rng = random.Random(key)
                kind = rng.choice(self.kinds)
                if kind == "pk_duplicate" and n:
                    row[self.pk] = rows[n - 1][self.pk]
                elif not getattr(self, f"_{kind}", self._pk_null)(row, rng):
                    self._pk_null(row, rng)
                    kind = "pk_null"
                self.counts[kind] += 1

    def _col(self, name: str) -> int:
        return self.names.index(name)

    def _pk_null(self, row: list[str], rng: random.Random) -> bool:
        row[self.pk] = ""
        return True

    def _bad_date(self, row: list[str], rng: random.Random) -> bool:
        filled = [
            self._col(c.name) for c in self.obj.columns if c.kind == DATE and row[self._col(c.name)]
        ]
        if not filled:
            return False
        i = rng.choice(filled)
        d = date.fromisoformat(row[i])
        row[i] = rng.choice(
            (
                f"{d.year}-02-{rng.choice((30, 31))}",
                f"{d.day:02d}/{d.month:02d}/{d.year}",
                f"{d.year}-{13 + d.month % 3}-{d.day:02d}",
                f"{d.year}-{d.month:02d}-{d.day:02d}T",
            )
        )
        return True

    def _unknown_code(self, row: list[str], rng: random.Random) -> bool:
        coded = [c for c in self.obj.columns if c.codes and row[self._col(c.name)]]
        if not coded:
            return False
        column = rng.choice(coded)
        valid = code_list(column.codes)
        row[self._col(column.name)] = rng.choice([b for b in BAD_CODES if b not in valid])
        return True

    def _end_before_start(self, row: list[str], rng: random.Random) -> bool:
        rules = [x for x in self.obj.rules if isinstance(x, Interval) and row[self._col(x.start)]]
        if not rules:
            return False
        rule = rng.choice(rules)
        start = date.fromisoformat(row[self._col(rule.start)])
        row[self._col(rule.end)] = (start - timedelta(days=rng.randint(1, 60))).isoformat()
        for pair in self.obj.rules:  # keep a close reason with its date: one error per row
            if (
                isinstance(pair, PresentTogether)
                and pair.a == rule.end
                and not row[self._col(pair.b)]
            ):
                column = self.obj.column(pair.b)
                row[self._col(pair.b)] = rng.choice(sorted(code_list(column.codes)))
        return True

    def _close_without_reason(self, row: list[str], rng: random.Random) -> bool:
        pair = rng.choice([x for x in self.obj.rules if isinstance(x, PresentTogether)])
        if not row[self._col(pair.a)]:
            start = next(
                x.start for x in self.obj.rules if isinstance(x, Interval) and x.end == pair.a
            )
            row[self._col(pair.a)] = row[self._col(start)]
        row[self._col(pair.b)] = ""
        return True

    def _dangling_reference(self, row: list[str], rng: random.Random) -> bool:
        refs = [
            self._col(c.name) for c in self.obj.columns if c.references and row[self._col(c.name)]
        ]
        if not refs:
            return False
        i = rng.choice(refs)
        row[i] = f"9{rng.randrange(10**9):09d}" if row[i].isdigit() else f"X{row[i]}"
        return True

    def _out_of_range(self, row: list[str], rng: random.Random) -> bool:
        rule = rng.choice([x for x in self.obj.rules if isinstance(x, Range)])
        row[self._col(rule.column)] = rng.choice(("0", "-1.0", "1.5", "10"))
        return True
