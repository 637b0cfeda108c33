"""The Dagster daemon gives the nightly job the same guarantees as ``fiw run``.

A real ``dagster-daemon`` (deploy/dagster.yaml's run queue, the sensors of defs/automation.py)
runs against a temporary home; the test only drops snapshot folders, launches runs the way the UI
does (``dagster job launch``) and kills a run worker, then reads the run storage and the
publication. It proves: the sensor launches a run when a snapshot folder appears, and it publishes;
two runs launched at once run one after the other; a run killed with SIGKILL during dbt is marked
failed by the interrupted-runs sensor, and the next run (launched by the sensor for the snapshot
still waiting) repairs and publishes it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fiw.contract import REPO_ROOT

from tests.fixtures.pipeline import DAY1, DAY2, add_snapshot, env_for, query, source

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
WAIT = 240  # seconds for any one thing the daemon should do


@pytest.fixture
def daemon(tmp_path, tmp_path_factory):
    src = source(tmp_path_factory)
    exports, home = tmp_path / "exports", tmp_path / "home"
    exports.mkdir()
    env = env_for(
        FIW_HOME=str(home),
        FIW_EXPORTS=str(exports),
        DAGSTER_HOME=str(home / "dagster"),
        FIW_SENSOR_SECONDS="3",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    subprocess.run([str(BIN / "fiw"), "prepare"], env=env, check=True, capture_output=True)
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    state = Daemon(proc, src, exports, home, env, tmp_path / "daemon.log")
    try:
        yield state
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, _ in _processes_of(home):  # run workers and dbt are children of the daemon's
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _processes_of(home: Path) -> list[tuple[int, str]]:
    """(pid, command line) of processes whose environment names this home."""
    found = []
    needle = f"FIW_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry.name), f"{ppid} {cmd}"))
    return found


class Daemon:
    def __init__(self, proc, src, exports, home, env, log):
        self.proc, self.src, self.exports, self.home, self.env, self.log = (
            proc,
            src,
            exports,
            home,
            env,
            log,
        )

    def runs(self) -> list:
        """Every run record, oldest first."""
        from dagster import DagsterInstance

        instance = DagsterInstance.from_config(str(self.home / "dagster"))
        try:
            return sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
        finally:
            instance.dispose()

    def wait_for(self, predicate, what: str, timeout: float = WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            assert self.proc.poll() is None, f"the daemon ended:\n{self.log.read_text()[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no {what} within {timeout}s:\n{self.log.read_text()[-4000:]}")

    def finished(self, n: int) -> list:
        runs = self.runs()
        done = [r for r in runs if r.dagster_run.is_finished]
        return done if len(done) >= n and len(done) == len(runs) else []

    def published_date(self):
        path = self.home / "published.duckdb"
        if not path.exists():
            return None
        return query(path, "select max(snapshot_date) from snapshots where status = 'published'")[
            0
        ][0]

    def launch(self) -> subprocess.Popen:
        """What a click on "Materialize" in the UI does: submit a run to the queue."""
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "launch", "-j", "nightly"]
            + ["-w", str(REPO_ROOT / "workspace.yaml")],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_the_daemon_loads_queues_and_recovers(daemon):
    from dagster import DagsterRunStatus

    # 1. A snapshot folder appears: the sensor launches a run, and it publishes.
    add_snapshot(daemon.src, daemon.exports, DAY1)
    first = daemon.wait_for(lambda: daemon.finished(1), "finished sensor run")
    assert first[0].dagster_run.status == DagsterRunStatus.SUCCESS
    assert first[0].dagster_run.tags.get("dagster/sensor_name") == "new_snapshot_sensor"
    assert daemon.published_date() == DAY1

    # 2. Two runs launched at once run one after the other, never together.
    launches = [daemon.launch(), daemon.launch()]
    for p in launches:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
    runs = daemon.wait_for(lambda: daemon.finished(3), "both launched runs finished")
    launched = [r for r in runs if "dagster/sensor_name" not in r.dagster_run.tags]
    assert len(launched) == 2
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in launched)
    (a_start, a_end), (b_start, b_end) = sorted((r.start_time, r.end_time) for r in launched)
    assert a_end <= b_start, "two runs of the nightly job overlapped"

    # 3. A run killed with SIGKILL during dbt is recovered, and the next run publishes.
    add_snapshot(daemon.src, daemon.exports, DAY2)

    def dbt_running():
        for pid, cmd in _processes_of(daemon.home):
            ppid, _, argv = cmd.partition(" ")
            if "dbt" in argv and " build" in argv:
                return pid, int(ppid)
        return None

    dbt_pid, worker_pid = daemon.wait_for(dbt_running, "dbt build of the sensor's run")
    killed_run = next(r for r in daemon.runs() if not r.dagster_run.is_finished).dagster_run
    os.kill(worker_pid, signal.SIGKILL)  # the run worker; its dbt carries on, orphaned
    recovered = daemon.wait_for(
        lambda: daemon.published_date() == DAY2 and daemon.finished(5), "recovery and publication"
    )
    by_id = {r.dagster_run.run_id: r for r in recovered}
    assert by_id[killed_run.run_id].dagster_run.status == DagsterRunStatus.FAILURE
    last = recovered[-1].dagster_run
    assert last.status == DagsterRunStatus.SUCCESS
    assert last.tags.get("dagster/sensor_name") == "new_snapshot_sensor"
    statuses = dict(
        query(daemon.home / "warehouse.duckdb", "select snapshot_date, status from audit.snapshots")
    )
    assert statuses[DAY2] == "published"
    assert "died" in daemon.log.read_text() or dbt_pid  # the sensor's note is in the daemon log
