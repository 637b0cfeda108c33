"""Running the nightly job, whoever starts it: the run lock, crash recovery, the launcher that
``fiw run`` is, and its progress display.

Every run of the ``nightly`` job (``fiw run``, the 02:00 schedule, the sensor, a click in the UI)
holds the home folder's run lock for its whole length and, once it holds it, repairs what an
interrupted run left behind (``guard``, a Dagster resource every asset requires). The Dagster
instance adds the run queue (one run at a time) for the runs the daemon launches, and a sensor
fails runs whose process died, so that the queue moves on (``defs/automation.py``).
"""

# Tags and prefixes the launcher, the guard and the progress display share.
LAUNCHED_BY_TAG = "fiw/launched_by"
LAUNCHED_BY_CLI = {LAUNCHED_BY_TAG: "fiw run"}
LOG_FILE_TAG = "fiw/log_file"  # a run `fiw run` launched: the log file its output goes to
# Metadata of the Failure that refuses a snapshot (defs/refusals.py): a run that fails only for
# that is a refusal, alerted as one, not a failed run (fiw.notify).
REFUSAL_MARK = "fiw_refusal"
RECOVERED = "Recovered: "
WAITING = "Waiting: "
SHOWN = (RECOVERED, WAITING)  # guard messages the progress display prints as they come
