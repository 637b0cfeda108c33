"""Session-wide fixtures: one throw-away PostgreSQL server (tests/fixtures/postgres.py) and one
small authority run through ``fiw run`` (tests/fixtures/nightly.py)."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.nightly",
    "tests.fixtures.authorities",
]
