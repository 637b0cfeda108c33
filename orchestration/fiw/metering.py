"""Peak memory so far, as step metadata: the benchmark reads it per stage from the run's events."""

from __future__ import annotations

import resource


def peak_rss_metadata() -> dict[str, float]:
    """Peak resident memory (MiB) of this process and of its finished children (dbt)."""
    return {
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_child_rss_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }
