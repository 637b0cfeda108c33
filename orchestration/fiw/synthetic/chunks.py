"""One chunk of children, from simulation to CSV bytes for every snapshot.

A chunk is the unit of work: its own random stream (seed, chunk number), so chunks give the same
bytes whichever process runs them, and the writer concatenates them in chunk order.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

from fiw.synthetic.calendar import DateText, add_years
from fiw.synthetic.defects import Spoiler
from fiw.synthetic.snapshot import render
from fiw.synthetic.timeline import BURN_IN_YEARS, HISTORY_YEARS, Timeline

CHUNK_CHILDREN = 10_000  # part of the output's identity: changing it changes the bytes


@dataclass(frozen=True)
class ChunkJob:
    seed: int
    chunk: int
    first_child: int
    last_child: int  # exclusive
    children: int  # of the whole run
    days: tuple[int, ...]  # snapshot days (ordinals), oldest first
    defects: float
    holders: dict[str, tuple[str, ...]]


@dataclass
class ChunkResult:
    data: list[dict[str, bytes]]  # per snapshot: object -> CSV lines (no header)
    rows: list[Counter[str]]  # per snapshot: object -> rows
    defects: Counter[str]  # kind -> rows spoiled, over all snapshots


def date_text(as_of: int) -> DateText:
    """ISO text for every day a record of a run ending ``as_of`` can carry."""
    return DateText(add_years(as_of, -(HISTORY_YEARS + BURN_IN_YEARS + 19)), as_of)


def encode(rows: list[list[str]]) -> bytes:
    """CSV lines: comma, RFC 4180 quoting where needed, LF, UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def run_chunk(job: ChunkJob) -> ChunkResult:
    """Simulate the chunk's children once and render, spoil and encode every snapshot."""
    timeline = Timeline(job.seed, job.chunk, job.children, job.days[-1], job.holders)
    for i in range(job.first_child, job.last_child):
        timeline.child(i)
    text = date_text(job.days[-1])
    result = ChunkResult([], [], Counter())
    for day in job.days:
        rendered = render(timeline.rows, day, text)
        data, rows = {}, Counter()
        for name, lines in rendered.items():
            result.defects += spoil(name, lines, job.seed, job.defects)
            data[name] = encode(lines)
            rows[name] = len(lines)
        result.data.append(data)
        result.rows.append(rows)
    return result


def spoil(name: str, rows: list[list[str]], seed: int, rate: float) -> Counter[str]:
    """Spoil about ``rate`` of the rows in place; the count of each kind of error injected."""
    if not rate:
        return Counter()
    spoiler = Spoiler(name, seed, rate)
    spoiler.spoil(rows)
    return spoiler.counts
