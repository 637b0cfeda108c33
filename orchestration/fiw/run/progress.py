"""What ``fiw run`` shows while the job runs, read from the run's Dagster event log.

On a terminal: one live line (the step, dbt's models and seeds done of all, the elapsed time).
Elsewhere (cron mail, CI logs): one plain line per step as it starts. Recovery notes the run's
guard logs are printed as they come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from rich.console import Console
from rich.markup import escape

from fiw.run import SHOWN

STEP_NAMES = {  # step key -> the step's name in README.md's table
    "raw_snapshots": "extract",
    "dbt_models": "dbt",
    "quality_checks": "validation",
    "audit__validated_snapshot": "validation",
    "published__database": "publish",
}
STEPS = {  # step key -> what a person is told it does
    "raw_snapshots": "extract: finding and loading new snapshots",
    "dbt_models": "dbt: building staging, intermediate and marts",
    "quality_checks": "validation: Great Expectations suites",
    "audit__validated_snapshot": "validation: the gate before publication",
    "published__database": "publish: writing published.duckdb",
}
POLL_SECONDS = 0.5


def _elapsed(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class RunProgress:
    """Follows one run's events in a background thread while the run executes."""

    def __init__(
        self,
        console: Console,
        instance,
        run_id: str,
        dbt_keys: Collection,
        started: float,
        label: str = "",
    ):
        self.console = console
        self.instance = instance
        self.run_id = run_id
        self.dbt_keys = set(dbt_keys)
        self.started = started
        self.label = label
        self.step = "starting: loading Dagster and the dbt project"
        self.dbt_done = 0
        self._cursor = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="fiw-progress", daemon=True)
        self._live = console.is_terminal
        self._status = None

    def __enter__(self) -> RunProgress:
        if self._live:
            self._status = self.console.status(self._line())
            self._status.start()
        else:
            self._say(self.step)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._poll()
        if self._status is not None:
            self._status.stop()

    def _line(self) -> str:
        text = self.step
        if self.step.startswith("dbt") and self.dbt_keys:
            text = f"dbt: {self.dbt_done} of {len(self.dbt_keys)} models and seeds built"
        return f"{self.label}{escape(text)}  [dim]{_elapsed(time.monotonic() - self.started)}[/]"

    def _say(self, text: str) -> None:
        stamp = _elapsed(time.monotonic() - self.started)
        self.console.print(f"{stamp} {self.label}{escape(text)}", highlight=False)

    def _follow(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._poll()
            except Exception:  # noqa: BLE001 - progress is best effort; the run goes on
                continue

    def _poll(self) -> None:
        from dagster import DagsterEventType

        connection = self.instance.event_log_storage.get_records_for_run(
            self.run_id, cursor=self._cursor
        )
        self._cursor = connection.cursor
        for record in connection.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                if entry.user_message.startswith(SHOWN):
                    self.console.print(f"[yellow]{escape(entry.user_message)}[/yellow]")
                continue
            if event.event_type == DagsterEventType.STEP_START:
                self.step = STEPS.get(event.step_key or "", event.step_key or "")
                if not self._live:
                    self._say(self.step)
            elif (
                event.event_type == DagsterEventType.ASSET_MATERIALIZATION
                and event.asset_key in self.dbt_keys
            ):
                self.dbt_done += 1
        if self._status is not None:
            self._status.update(self._line())
