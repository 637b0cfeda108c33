"""The Dagster code location loads and holds the nightly path, its schedule and its sensor."""

from __future__ import annotations

import pytest
from dagster import AssetKey
from fiw.resources import ensure_dbt_manifest


@pytest.fixture(scope="module")
def defs(tmp_path_factory, monkeypatch_module):
    home = tmp_path_factory.mktemp("home")
    monkeypatch_module.setenv("FIW_HOME", str(home))
    monkeypatch_module.setenv("FIW_EXPORTS", str(home / "exports"))
    ensure_dbt_manifest()
    from fiw.definitions import defs

    return defs


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_nightly_schedule_runs_at_two_in_london(defs):
    schedule = defs.resolve_schedule_def("nightly_0200")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/London"
    assert schedule.job_name == "nightly"


def test_a_sensor_watches_the_exports_folder(defs):
    assert defs.resolve_sensor_def("new_snapshot_sensor").job_name == "nightly"


def test_the_asset_graph_runs_export_to_publication(defs):
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    for key in (
        ["raw", "ssd_person"],
        ["audit", "snapshots"],
        ["staging", "stg_ssd__person"],
        ["marts", "outcome_metrics"],
        ["audit", "validated_snapshot"],
        ["published", "database"],
    ):
        assert AssetKey(key) in keys, key
    upstream = graph.get(AssetKey(["published", "database"])).parent_keys
    assert AssetKey(["audit", "validated_snapshot"]) in upstream
    # the gate waits for the suites' checks on the marts: they are blocking
    gate = graph.get(AssetKey(["audit", "validated_snapshot"]))
    assert AssetKey(["marts", "outcome_metrics_suppressed"]) in gate.parent_keys


def test_each_suite_is_a_check_on_the_tables_it_tests(defs):
    """Not on one audit asset: a failure shows on raw/ssd_cp_plans or marts/outcome_metrics."""
    from dagster import AssetCheckKey

    graph = defs.resolve_asset_graph()

    def check(path: list[str], suite: str):
        key = AssetCheckKey(AssetKey(path), suite)
        assert key in graph.get(AssetKey(path)).check_keys, key
        return graph.get_check_spec(key)

    for obj in ("ssd_person", "ssd_cin_episodes", "ssd_involvements"):
        assert not check(["raw", obj], "raw_contract").blocking  # dbt has read them already
    assert not check(["raw", "ssd_cp_plans"], "raw_statutory").blocking
    assert not check(["audit", "snapshots"], "completeness").blocking
    assert check(["marts", "outcome_metrics"], "marts").blocking
    assert check(["marts", "outcome_metrics_suppressed"], "marts").blocking
    assert check(["marts", "outcome_metrics_suppressed"], "disclosure").blocking
    assert not graph.get(AssetKey(["audit", "validated_snapshot"])).check_keys


def test_workspace_yaml_loads_as_dagster_dev_loads_it(tmp_path):
    """`dagster dev -w workspace.yaml` (see `make dagster`) loads the same code location."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "FIW_HOME": str(tmp_path / "home"),
        "FIW_EXPORTS": str(tmp_path / "exports"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location fiw.definitions" in (
        result.stdout + result.stderr
    )


def test_dbt_models_are_assets_with_their_tests_as_checks(defs):
    graph = defs.resolve_asset_graph()
    checks = graph.get(AssetKey(["staging", "stg_ssd__cp_plans"])).check_keys
    names = {key.name for key in checks}
    assert any(name.startswith("unique_stg_ssd__cp_plans") for name in names), names
    assert any(name.startswith("not_null_stg_ssd__cp_plans") for name in names), names
    outcome_checks = graph.get(AssetKey(["marts", "outcome_metrics"])).check_keys
    assert outcome_checks, "marts.outcome_metrics carries its dbt tests as checks"
