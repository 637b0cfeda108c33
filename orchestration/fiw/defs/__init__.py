"""Dagster definitions, one module per step of the nightly load."""
