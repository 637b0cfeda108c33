"""The released homes the disclosure tests attack: each authority of tests/fixtures/authorities.py
(the demo and three small ones), one at a time."""

from __future__ import annotations

import pytest

from tests.fixtures.authorities import AUTHORITIES


@pytest.fixture(scope="module", params=[a.name for a in AUTHORITIES])
def released_home(request, released_homes):
    """A home folder with ``release/`` and the unsuppressed marts in ``warehouse.duckdb``."""
    return released_homes[request.param]
