"""A synthetic local authority: nightly SSD snapshot folders that look like a real case system.

``generate`` simulates ``children`` children over about six years up to ``as_of`` (referrals,
assessments, CIN and CP plans, periods of care, allocations to workers in the teams of the
``units`` seed) and writes ``snapshots`` nightly full snapshots ending on ``as_of``, optionally with
a share of data-entry errors. The same arguments always give the same bytes.

Modules: ``reference`` (names, codes, teams), ``behaviour`` (how each era works cases),
``timeline`` (the model), ``workforce`` (teams and workers), ``snapshot`` (a night's view),
``defects`` (errors), ``chunks`` (unit of parallel work), ``writer`` (folders and files).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from rich.progress import Progress

from fiw.synthetic.chunks import CHUNK_CHILDREN, ChunkJob, ChunkResult, encode, run_chunk, spoil
from fiw.synthetic.workforce import build_workforce
from fiw.synthetic.writer import SnapshotFolders

WORKERS = 2


@dataclass(frozen=True)
class GenerateReport:
    """What ``generate`` wrote: the snapshot folders (oldest first) and their rows per object."""

    folders: list[Path]
    rows: dict[str, dict[str, int]]  # folder name -> object -> data rows
    defects: dict[str, int] = field(default_factory=dict)  # kind -> rows spoiled, all folders

    def summary(self) -> str:
        lines = [f"{len(self.folders)} snapshot folder(s) under {self.folders[-1].parent}"]
        for folder, rows in self.rows.items():
            counts = ", ".join(f"{name.removeprefix('ssd_')} {n:,}" for name, n in rows.items())
            lines.append(f"  {folder}: {counts}")
        if self.defects:
            kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.defects.items()))
            lines.append(f"  defects injected: {kinds}")
        return "\n".join(lines)


def generate(
    out: Path,
    children: int = 12000,
    seed: int = 1,
    as_of: date = date(2017, 11, 30),
    snapshots: int = 1,
    defects: float = 0.0,
    progress: bool = False,
) -> GenerateReport:
    """Write ``snapshots`` nightly SSD snapshot folders ``out/YYYY-MM-DD/`` ending on ``as_of``."""
    if children < 1 or snapshots < 1 or not 0.0 <= defects <= 1.0:
        raise ValueError("children and snapshots must be at least 1, defects a share in [0, 1]")
    out = Path(out)
    days = tuple(as_of - timedelta(days=snapshots - 1 - n) for n in range(snapshots))
    folders = [d.isoformat() for d in days]
    workforce = build_workforce(seed, children)
    jobs = [
        ChunkJob(
            seed,
            n,
            first,
            min(first + CHUNK_CHILDREN, children),
            children,
            tuple(d.toordinal() for d in days),
            defects,
            workforce.case_holders,
        )
        for n, first in enumerate(range(0, children, CHUNK_CHILDREN))
    ]
    rows = {folder: Counter() for folder in folders}
    injected: Counter[str] = Counter()
    staff = {"ssd_department": workforce.departments, "ssd_professionals": workforce.professionals}
    with SnapshotFolders(out, folders) as files, Progress(disable=not progress) as bar:
        task = bar.add_task("children", total=children)
        for n, folder in enumerate(folders):
            for name, lines in staff.items():
                lines = [list(line) for line in lines]
                if name != "ssd_department":  # reference data, not keyed in by hand
                    injected += spoil(name, lines, seed, defects)
                files.append(n, {name: encode(lines)})
                rows[folder][name] = len(lines)
        for job, result in zip(jobs, _results(jobs), strict=True):
            for n, folder in enumerate(folders):
                files.append(n, result.data[n])
                rows[folder].update(result.rows[n])
            injected += result.defects
            bar.advance(task, job.last_child - job.first_child)
    return GenerateReport(
        [out / f for f in folders], {f: dict(r) for f, r in rows.items()}, dict(injected)
    )


def _results(jobs: list[ChunkJob]) -> Iterator[ChunkResult]:
    """The chunks' results in chunk order: in this process for one chunk, else in a small pool."""
    workers = min(WORKERS, os.cpu_count() or 1, len(jobs))
    if workers < 2:
        yield from map(run_chunk, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(run_chunk, jobs)
