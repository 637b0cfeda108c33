"""The published tables are described from one source, the dbt YAML: as comments in the published
database, and as a docs site that works offline. An undescribed published column is an error."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import duckdb
import pytest
from fiw.publish import catalog as cat
from fiw.publish.database import PUBLISHED


@pytest.fixture(scope="module")
def manifest() -> dict:
    return cat.load_manifest()


def published_db(con: duckdb.DuckDBPyConnection, name: str = "pub") -> None:
    """An attached database holding the published tables, empty, with the published columns."""
    con.execute(f"attach ':memory:' as {name}")
    for table, (_, columns) in PUBLISHED.items():
        con.execute(
            f"create table {name}.main.{table} ({', '.join(f'{c} varchar' for c in columns)})"
        )


def comments(con: duckdb.DuckDBPyConnection, name: str = "pub"):
    tables = dict(
        con.execute(
            "select table_name, comment from duckdb_tables() where database_name = ?", [name]
        ).fetchall()
    )
    columns = {
        (t, c): comment
        for t, c, comment in con.execute(
            "select table_name, column_name, comment from duckdb_columns() where database_name = ?",
            [name],
        ).fetchall()
    }
    return tables, columns


def test_every_published_column_of_the_project_is_described(manifest):
    described = cat.published_descriptions(manifest)
    assert list(described) == list(PUBLISHED)
    for table, (text, columns) in described.items():
        assert text.strip(), table
        assert list(columns) == list(PUBLISHED[table][1])
        assert all(t.strip() for t in columns.values()), table


def test_the_audit_tables_are_dbt_sources(manifest):
    nodes = cat.published_nodes(manifest)
    assert nodes["dq_results"]["unique_id"] == "source.fiw.audit.dq_results"
    assert nodes["snapshots"]["unique_id"] == "source.fiw.audit.snapshots"
    assert nodes["outcome_metrics"]["unique_id"] == "model.fiw.outcome_metrics_suppressed"


def test_comments_land_in_the_published_database(manifest):
    con = duckdb.connect()
    published_db(con)
    cat.describe_tables(con, "pub", manifest)
    tables, columns = comments(con)
    described = cat.published_descriptions(manifest)
    assert tables == {t: text for t, (text, _) in described.items()}
    assert columns == {
        (t, c): text for t, (_, cols) in described.items() for c, text in cols.items()
    }
    # The text is the YAML's, e.g. a column of the audit source in analysts' words.
    assert "published" in tables["snapshots"]
    assert columns[("dq_results", "success")] == "True when the check passed."


def test_quotes_survive(manifest):
    manifest = copy.deepcopy(manifest)
    node = manifest["nodes"]["model.fiw.plan_episodes"]
    node["columns"]["segment"]["description"] = "The case's segment; 'all' is not one."
    con = duckdb.connect()
    published_db(con)
    cat.describe_tables(con, "pub", manifest)
    assert comments(con)[1][("plan_episodes", "segment")] == "The case's segment; 'all' is not one."


@pytest.mark.parametrize(
    "drop, named",
    [
        (("nodes", "model.fiw.plan_episodes", "segment"), "column plan_episodes.segment"),
        (("sources", "source.fiw.audit.dq_results", "details"), "column dq_results.details"),
        (("nodes", "model.fiw.outcome_metrics_suppressed", None), "table outcome_metrics"),
    ],
)
def test_an_undescribed_published_column_fails_naming_it(manifest, drop, named):
    manifest = copy.deepcopy(manifest)
    kind, uid, column = drop
    node = manifest[kind][uid]
    if column is None:
        node["description"] = "  "
    elif column == "details":
        del node["columns"][column]  # not listed at all
    else:
        node["columns"][column]["description"] = ""
    con = duckdb.connect()
    published_db(con)
    with pytest.raises(cat.UndescribedError, match=named) as raised:
        cat.describe_tables(con, "pub", manifest)
    assert ".yml" in str(raised.value)  # says where to describe it
    tables, columns = comments(con)  # checked before the first comment is written
    assert set(tables.values()) == {None}
    assert set(columns.values()) == {None}


def test_a_published_table_missing_from_dbt_fails(manifest):
    manifest = copy.deepcopy(manifest)
    del manifest["sources"]["source.fiw.audit.snapshots"]
    with pytest.raises(cat.UndescribedError, match="snapshots"):
        cat.published_descriptions(manifest)


def test_network_references_finds_loads_not_links():
    loaded = [
        '<script src="https://cdn.example.org/x.js"></script>',
        "<link rel=stylesheet href=//fonts.googleapis.com/css?family=Lato>",
        "<style>@import url('https://fonts.googleapis.com/css2');</style>",
        "@font-face{src:url(https://fonts.gstatic.com/a.woff2)}",
        'i.async=1,i.src="//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js"',
        '<img srcset="http://example.org/a.png 2x">',
    ]
    for html in loaded:
        assert cat.network_references(html), html
    not_loaded = [
        '<a href="https://docs.getdbt.com">dbt</a>',
        '<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        'ao.href="http://[::1]"',
        '"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"',
        "@font-face{src:url(data:font/woff;base64,AAAA)}",
        '<link rel="canonical" href="/overview/"/>',
    ]
    for html in not_loaded:
        assert not cat.network_references(html), html
    assert not cat.network_references(cat._offline(loaded[4]))


def test_the_docs_manifest_holds_only_the_published_tables(manifest):
    shown = cat.published_manifest(manifest)
    relations = {
        n["relation_name"]
        for n in [*shown["nodes"].values(), *shown["sources"].values()]
        if n["resource_type"] in ("model", "source")
    }
    assert relations == {f'"published"."main"."{t}"' for t in PUBLISHED}
    kinds = {n["resource_type"] for n in shown["nodes"].values()}
    assert kinds == {"model", "test"}
    for node in [*shown["nodes"].values(), *shown["sources"].values()]:
        if node["resource_type"] != "test":
            table = node["relation_name"].split(".")[-1].strip('"')
            assert list(node["columns"]) == list(PUBLISHED[table][1])
    assert "snapshot_id" not in shown["sources"]["source.fiw.audit.snapshots"]["columns"]
    assert shown["metadata"]["send_anonymous_usage_stats"] is False
    assert not shown["macros"] and not shown["unit_tests"]
    ids = set(shown["nodes"]) | set(shown["sources"])
    for edges in (shown["parent_map"], shown["child_map"]):
        assert set(edges) <= ids
        assert all(set(v) <= ids for v in edges.values())


def test_dbt_docs_page_loads_only_its_tracker_and_offline_blanks_it():
    """What dbt's own page fetches from the network: the Snowplow tracker, nothing else (no fonts,
    no CDN scripts or styles). A dbt upgrade that adds one fails here first."""
    from dbt.task.docs import DOCS_INDEX_FILE_PATH

    page = Path(DOCS_INDEX_FILE_PATH).read_text(encoding="utf-8")
    loads = cat.network_references(page)
    assert len(loads) == 1 and loads[0].endswith("/sp.js"), loads
    assert cat.network_references(cat._offline(page)) == []


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One real build (dbt docs generate: seconds), cached."""
    root = tmp_path_factory.mktemp("catalog")
    started = time.perf_counter()
    index = cat.build_catalog(root / "site", root / "cache")
    return root, index, time.perf_counter() - started


def test_the_catalog_page_exists_and_mentions_each_published_table(built):
    root, index, _ = built
    assert index == root / "site" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "MANIFEST.JSON INLINE DATA" not in html  # the data is inlined: it works from file://
    for table in PUBLISHED:  # its relation, as the inlined manifest spells it
        assert f'\\"published\\".\\"main\\".\\"{table}\\"' in html, table
    assert "stg_ssd__person" not in html  # only the published tables, not the whole project
    assert "Pseudonymous id of the child" in html  # a YAML description


def test_the_catalog_page_needs_no_network(built):
    _, index, _ = built
    html = index.read_text(encoding="utf-8")
    assert cat.network_references(html) == []
    assert "cloudfront.net" not in html  # dbt docs' tracker script, blanked
    inline = html.index("manifest:") + len("manifest:")
    inlined, _ = json.JSONDecoder().raw_decode(html[inline:])
    assert inlined["metadata"]["send_anonymous_usage_stats"] is False


def test_an_unchanged_manifest_reuses_the_cached_page(built, monkeypatch):
    root, index, _ = built

    def no_dbt(_manifest):
        raise AssertionError("dbt ran although the manifest did not change")

    monkeypatch.setattr(cat, "_dbt_static_page", no_dbt)
    started = time.perf_counter()
    again = cat.build_catalog(root / "again", root / "cache")
    assert time.perf_counter() - started < 2
    assert again.read_bytes() == index.read_bytes()
    assert len(list((root / "cache").glob("catalog-*.html"))) == 1


def test_an_undescribed_column_builds_no_page(manifest):
    manifest = copy.deepcopy(manifest)
    del manifest["nodes"]["model.fiw.caseload_monthly_suppressed"]["columns"]["fte"]
    with pytest.raises(cat.UndescribedError, match="caseload_monthly.fte"):
        cat.catalog_page(manifest)
