"""Overlap: one ``fiw run`` at a time per home folder, and a killed run does not block the next.

The lock is ``run.lock`` in the home folder, held with ``flock`` for the life of the run: the
operating system releases it when the process ends, however it ends.
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures import pipeline as p

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def overlap(tmp_path_factory):
    root = tmp_path_factory.mktemp("overlap")
    home = p.baseline(tmp_path_factory).copy(root)
    p.add_snapshot(p.source(tmp_path_factory), home.exports, p.OLD)
    holder = p.start_paused(home.exports, home.home, root / "out", "load")
    try:
        started = time.monotonic()
        second = p.run(home.exports, home.home)
        refused_after = time.monotonic() - started
        status = p.fiw("status", "--home", str(home.home))
    finally:
        holder.kill()
    after_kill = p.run(home.exports, home.home)
    return home, holder, second, refused_after, status, after_kill


def test_a_second_run_is_refused_at_once_while_one_holds_the_lock(overlap):
    home, holder, second, refused_after, _, _ = overlap
    assert second.returncode == 1, second.stdout + second.stderr
    out = p.plain(second.stdout)
    assert (f"fiw run: another fiw run holds {home.home / 'run.lock'} (Dagster run ") in out
    assert f", pid {holder.proc.pid}, since " in out
    assert "this run was refused. It will be free when that run ends: run again then." in out
    assert refused_after < 30  # interpreter start-up only: it neither waits nor loads anything


def test_status_still_answers_from_the_publication_while_a_run_holds_the_warehouse(overlap):
    _, _, _, _, status, _ = overlap
    assert status.returncode == 0, status.stdout + status.stderr
    out = p.plain(status.stdout)
    assert "A run holds the warehouse; showing the last publication." in out
    assert "Last publication: snapshot 2017-11-29" in out


def test_the_lock_is_free_once_the_holder_was_killed(overlap, tmp_path_factory):
    home, holder, _, _, _, after_kill = overlap
    assert holder.proc.returncode == -9
    assert after_kill.returncode == 0, after_kill.stdout + after_kill.stderr
    assert "another fiw run holds" not in after_kill.stdout
    assert p.statuses(home.home) == {p.OLD: "loaded", p.DAY1: "published"}
    # Loaded exactly once, although the killed run had inserted it (uncommitted).
    clean = p.raw_counts(p.clean(tmp_path_factory).home)
    assert {k: n for k, n in p.raw_counts(home.home).items() if k[1] == p.OLD} == {
        k: n for k, n in clean.items() if k[1] == p.OLD
    }
