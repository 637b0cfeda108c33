"""The one test hook in production code: stop a run at a chosen risky point so a test can kill it.

``FIW_TEST_PAUSE_AT=<stage>`` (unset in production) makes :func:`pause_point` for that stage
write the marker line ``FIW-PAUSED-AT <stage> pid=<pid>`` to standard error (file descriptor 2,
which ``fiw run``'s redirection of stdout to the run log does not touch) and then sleep for
``FIW_TEST_PAUSE_SECONDS`` (default 600), so that a test waits for the marker and sends SIGKILL to
the whole process group. The stages and where they pause:

- ``load``: inside the snapshot's load transaction, after its raw and audit rows are inserted and
  before the commit (``fiw.extract.load``);
- ``validation``: between two Great Expectations suites, before any result is recorded
  (``fiw.quality.run_suites``);
- ``publish``: after ``published.duckdb.tmp-<run>`` is written, checkpointed and fsynced, before
  ``os.replace`` (``fiw.publish.publish``);
- ``postgres``: inside the PostgreSQL publication's transaction, after the schemas are renamed
  and the old ones dropped, before the commit (``fiw.publish.postgres``).

With the variable unset or naming another stage, :func:`pause_point` returns at once.
"""

from __future__ import annotations

import os
import time

PAUSE_ENV = "FIW_TEST_PAUSE_AT"
SECONDS_ENV = "FIW_TEST_PAUSE_SECONDS"
STAGES = ("load", "validation", "publish", "postgres")
MARKER = "FIW-PAUSED-AT"


def pause_point(stage: str) -> None:
    """Pause here when ``$FIW_TEST_PAUSE_AT`` is ``stage`` (tests only; see the module doc)."""
    if stage not in STAGES:
        raise ValueError(f"unknown pause point {stage!r}; one of {STAGES}")
    if os.environ.get(PAUSE_ENV) != stage:
        return
    os.write(2, f"{MARKER} {stage} pid={os.getpid()}\n".encode())
    time.sleep(float(os.environ.get(SECONDS_ENV, "600")))
