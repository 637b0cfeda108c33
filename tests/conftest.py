"""Session-wide fixtures: one throw-away PostgreSQL server (tests/fixtures/postgres.py)."""

pytest_plugins = ["tests.fixtures.postgres"]
