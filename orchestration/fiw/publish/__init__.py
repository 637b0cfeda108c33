"""Step 4, publication: what leaves the warehouse, for whom, and how it is swapped in.

- ``database``: ``published.duckdb`` (the analysts' tier) built beside the old file from the
  validated snapshot's marts, checked for personal data, and renamed into place;
- ``swap``: folders (``release/``, ``catalog/``) replaced in one atomic step beside it.

Disclosure control itself (``fiw.disclosure``) happens before: the marts' suppressed table is
what both tiers publish, and the validation step audits it.
"""

from fiw.publish.database import (
    HASHED_COLUMNS,
    PERSONAL_COLUMN,
    PUBLISHED,
    PublishError,
    check_no_personal_data,
    publish,
    published_summary,
    remove_stale_temporaries,
)

__all__ = [
    "HASHED_COLUMNS",
    "PERSONAL_COLUMN",
    "PUBLISHED",
    "PublishError",
    "check_no_personal_data",
    "publish",
    "published_summary",
    "remove_stale_temporaries",
]
