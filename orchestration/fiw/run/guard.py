"""The guard every nightly run holds, whoever launched it: a Dagster resource that every asset of
the job requires, so it is set up once when the run starts (the job runs its steps in one
process) and released when the run ends.

On set-up it tags the run with its process (so a run whose process dies is known to be dead),
takes the run lock (a run launched by ``fiw run`` refuses at once when another run holds it, one
launched by the daemon waits its turn), waits for a ``dbt`` left by a killed run to release the
warehouse, and repairs what an interrupted run left (``recovery``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource, InitResourceContext

from fiw.notify import alert_run_failure
from fiw.run import LAUNCHED_BY_CLI, LAUNCHED_BY_TAG, RECOVERED, WAITING
from fiw.run.lock import run_lock
from fiw.run.recovery import pid_tag, recover_interrupted, wait_for_warehouse
from fiw.settings import Settings

# A run the daemon launched waits this long for a `fiw run` from cron to finish.
DAEMON_LOCK_WAIT_SECONDS = 3 * 3600.0


class RunGuard(ConfigurableResource):
    """Held for the whole nightly run: the run lock, then recovery of interrupted runs."""

    home: str
    exports: str

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[RunGuard]:
        settings = Settings.resolve(home=self.home, exports=self.exports)
        run = context.dagster_run
        if run is None:  # built outside a run (a test's build_resources): nothing to guard
            yield self
            return
        # Whoever launched it (the daemon's worker inherits the daemon's umask, `dagster dev` the
        # shell's), what the run writes is owner-only unless a tier says otherwise (audiences.md).
        os.umask(0o077)
        context.instance.add_run_tags(run.run_id, pid_tag())
        from_cli = run.tags.get(LAUNCHED_BY_TAG) == LAUNCHED_BY_CLI[LAUNCHED_BY_TAG]
        wait = 0.0 if from_cli else DAEMON_LOCK_WAIT_SECONDS
        with run_lock(settings, f"Dagster run {run.run_id}", wait_seconds=wait):
            wait_for_warehouse(settings, notify=lambda text: context.log.warning(WAITING + text))
            for note in recover_interrupted(
                settings,
                context.instance,
                run.run_id,
                # A dead run this run marks failed gets its alert (once, whoever marks it).
                on_failed=lambda run_id: alert_run_failure(
                    settings, context.instance, run_id, context.log
                ),
            ):
                context.log.warning(RECOVERED + note)
            yield self
