"""Data quality: the checks that stand between a loaded snapshot and its publication.

- ``suites``: the suite files of ``expectations/`` (format, placeholders, the generated contract
  suite);
- ``execution``: running them with Great Expectations on DuckDB (``engine``) and the disclosure
  audit of the release;
- ``results``: what a check found, as people and ``audit.dq_results`` see it (severity, counts, the
  offending values that are not personal data);
- ``recording``: every result, Great Expectations' and dbt's tests', kept in ``audit.dq_results``;
- ``page``: the data-quality page in ``data_docs/``, built from the audit tables.

No Dagster here: ``fiw.defs.quality_checks`` reports the results as asset checks on the tables
they test.
"""
