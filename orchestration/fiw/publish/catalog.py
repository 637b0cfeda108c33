"""Describe the published tables: ``COMMENT ON`` in ``published.duckdb``, and the dbt docs site.

One source of truth: the ``description:`` texts of the dbt YAML, read from dbt's manifest. The
published ``outcome_metrics`` is described by the model ``outcome_metrics_suppressed``;
``plan_episodes``, ``plan_transitions`` and ``caseload_monthly`` by the marts of the same name;
``dq_results`` and ``snapshots`` by the dbt sources ``audit.dq_results`` and ``audit.snapshots``
(``models/audit/_audit__sources.yml``, ``models/staging/ssd/_ssd__sources.yml``). A published
table or column without a description stops the publication, naming it (:class:`UndescribedError`).

- :func:`describe_tables` writes the descriptions as comments into the published database, so
  ``select table_name, comment from duckdb_tables()`` and ``duckdb_columns()`` explain everything.
- :func:`build_catalog` writes ``index.html``: dbt's docs site of the published tables alone, in
  one file that needs nothing from the network (the analysts' ``catalog/``).

How the page is made: ``dbt docs generate --static --empty-catalog --no-compile`` with its own
``--target-path`` in a temporary folder. ``--empty-catalog`` and ``--no-compile`` keep dbt away from
the warehouse (no adapter connection: the running pipeline holds the file); ``--static`` inlines
``<target-path>/manifest.json`` and the (empty) catalog into ``static_index.html``. With
``--no-compile``, dbt 1.11 neither writes nor filters that manifest (it fails when none is there,
and ``--select`` changes nothing), so the restriction to the published tables is done here: the
manifest put in the target path holds only the published models and sources (their published
columns), the tests on them, and an overview for analysts; relations are renamed to where the
analyst finds them (``"published"."main".<table>``).

dbt's page loads one thing from the network: the Snowplow tracker (``sp.js`` from a CloudFront
host, reporting to ``fishtownanalytics.sinter-collect.com``), injected only when the manifest says
``send_anonymous_usage_stats`` (fiw's project says no). The inlined manifest says false and the
loader's URL is blanked all the same; the page is then checked for any script, style sheet, font,
image or ``@import`` fetched over the network (:func:`network_references`), and refused if one
is left.

dbt takes several seconds (a full parse), so pages are cached by the sha256 of the manifest (and
:data:`PAGE_VERSION`): a publication whose dbt project did not change copies the cached page.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import duckdb

from fiw.publish.database import PUBLISHED, PublishError
from fiw.settings import DBT_PROJECT_DIR, dbt_executable

# Bump when the page this module makes changes for the same manifest (invalidates the cache).
PAGE_VERSION = "1"
# The dbt sources schema of the published audit tables; every other PUBLISHED source is a model.
AUDIT_SOURCE = "audit"
# Where analysts find the tables: `duckdb published.duckdb` names the database after the file.
PUBLISHED_DATABASE, PUBLISHED_SCHEMA = "published", "main"

Descriptions = dict[str, tuple[str, dict[str, str]]]


class UndescribedError(PublishError):
    """A published table or column has no description in the dbt YAML."""


class CatalogError(PublishError):
    """The docs site of the published tables could not be built, or would use the network."""


def load_manifest() -> dict[str, Any]:
    """dbt's manifest of the project (parsed first when missing or stale)."""
    from fiw.resources import ensure_dbt_manifest  # imports Dagster: only when needed

    return json.loads(ensure_dbt_manifest().read_text())


def _text(description: Any) -> str:
    """A description as one line (the YAML folds its lines; comments read better without)."""
    return " ".join(str(description or "").split())


def _yaml_file(node: dict[str, Any]) -> str:
    """The YAML file that describes ``node``, for error messages."""
    path = node.get("patch_path") or node.get("original_file_path") or "?"
    return "dbt_project/" + path.split("://", 1)[-1]


def published_nodes(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Published table -> the manifest node (model or source) it is copied from."""
    project = manifest["metadata"]["project_name"]
    found: dict[str, dict[str, Any]] = {}
    for table, (source, _) in PUBLISHED.items():
        schema, name = source.split(".")
        if schema == AUDIT_SOURCE:
            kind, node = "source", manifest["sources"].get(f"source.{project}.{schema}.{name}")
        else:
            kind, node = "model", manifest["nodes"].get(f"model.{project}.{name}")
        if node is None:
            raise UndescribedError(
                f"published table {table}: its {kind} {schema}.{name} is not in dbt's manifest;"
                " describe it in a YAML file under dbt_project/models/"
            )
        if node.get("schema") != schema:
            raise UndescribedError(
                f"published table {table} comes from {source}, but dbt's {kind} {name} is in"
                f" schema {node.get('schema')}"
            )
        found[table] = node
    return found


def published_descriptions(manifest: dict[str, Any]) -> Descriptions:
    """Published table -> (its description, {column: description}), columns in published order.

    Raises :class:`UndescribedError` naming every published table and column without one."""
    nodes = published_nodes(manifest)
    missing: list[str] = []
    result: Descriptions = {}
    for table, (_, columns) in PUBLISHED.items():
        node = nodes[table]
        where = f" ({_yaml_file(node)})"
        text = _text(node.get("description"))
        if not text:
            missing.append(f"table {table}{where}")
        described = node.get("columns") or {}
        texts = {c: _text((described.get(c) or {}).get("description")) for c in columns}
        missing += [f"column {table}.{c}{where}" for c, t in texts.items() if not t]
        result[table] = (text, texts)
    if missing:
        raise UndescribedError(
            "published without a description in dbt's YAML (one source of truth for the"
            " published database's comments and the catalog): " + "; ".join(missing)
        )
    return result


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe_tables(
    con: duckdb.DuckDBPyConnection, catalog: str, manifest: dict[str, Any] | None = None
) -> None:
    """``COMMENT ON`` every published table and column of the database attached as ``catalog``,
    with the dbt descriptions (``manifest``: dbt's manifest, default the project's).

    Every description is checked before the first comment is written."""
    described = published_descriptions(manifest if manifest is not None else load_manifest())
    for table, (text, columns) in described.items():
        relation = f"{_ident(catalog)}.{_ident(PUBLISHED_SCHEMA)}.{_ident(table)}"
        con.execute(f"comment on table {relation} is {_literal(text)}")
        for column, column_text in columns.items():
            con.execute(f"comment on column {relation}.{_ident(column)} is {_literal(column_text)}")


# ---------------------------------------------------------------------------------------------
# The docs site

OVERVIEW = """\
### The published tables

These pages describe the tables of `published.duckdb`, the database fiw publishes for the
authority's analysts every night. Each table is in schema `main`:

{tables}

The same descriptions are in the database itself:
`select table_name, comment from duckdb_tables()` and
`select table_name, column_name, comment from duckdb_columns()`.

Ids (`child_key`, `case_key`, `plan_episode_id`) are keyed hashes: they join across the
published tables, never back to the case system. The figures in `outcome_metrics` are
suppressed where counts are small. Anything that leaves the authority is taken from `release/`
only, never from this database.

How the metrics are defined: `docs/metrics.md` and `docs/metric-interpretations.md`; how to
connect: the section "For analysts" of fiw's README.
"""


def _overview(manifest: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    project = manifest["metadata"]["project_name"]
    lines = []
    for table, node in nodes.items():
        origin = f"{node['source_name']}.{node['name']}" if "source_name" in node else node["name"]
        source = "" if origin == table else f" (dbt: `{origin}`)"
        lines.append(f"- `{table}`{source}")
    return {
        "name": "__overview__",
        "resource_type": "doc",
        "package_name": project,
        "path": "overview.md",
        "original_file_path": "overview.md",
        "unique_id": f"doc.{project}.__overview__",
        "block_contents": OVERVIEW.format(tables="\n".join(lines)),
    }


def published_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest the docs site shows: the published models and sources only (their published
    columns, found where an analyst finds them), the data tests on those columns, an overview."""
    published_descriptions(manifest)  # undescribed: no page either
    nodes = published_nodes(manifest)
    kept: dict[str, dict[str, Any]] = {}
    columns_of: dict[str, tuple[str, ...]] = {}
    for table, node in nodes.items():
        node = copy.deepcopy(node)
        columns = PUBLISHED[table][1]
        node["columns"] = {c: node["columns"][c] for c in columns}
        node["database"], node["schema"] = PUBLISHED_DATABASE, PUBLISHED_SCHEMA
        node["identifier" if node["resource_type"] == "source" else "alias"] = table
        node["relation_name"] = ".".join(
            _ident(n) for n in (PUBLISHED_DATABASE, PUBLISHED_SCHEMA, table)
        )
        kept[node["unique_id"]] = node
        columns_of[node["unique_id"]] = columns
    tests = {}
    for uid, node in manifest["nodes"].items():
        if node.get("resource_type") != "test":
            continue
        parents = node.get("depends_on", {}).get("nodes", [])
        attached = node.get("attached_node") or (parents[0] if parents else None)
        column = node.get("column_name")
        if (
            parents
            and all(p in kept for p in parents)
            and (column is None or column in columns_of.get(attached, ()))
        ):
            tests[uid] = copy.deepcopy(node)
    shown = kept | tests
    for node in shown.values():
        depends = node.get("depends_on") or {}
        depends["nodes"] = [p for p in depends.get("nodes", []) if p in shown]
        depends["macros"] = []

    def graph(edges: dict[str, list[str]]) -> dict[str, list[str]]:
        return {u: [v for v in vs if v in shown] for u, vs in edges.items() if u in shown}

    result: dict[str, Any] = {
        key: type(value)() if isinstance(value, dict | list) else value
        for key, value in manifest.items()
    }
    metadata = dict(manifest["metadata"])
    metadata["send_anonymous_usage_stats"] = False  # no tracker (see the module's docstring)
    metadata["user_id"] = None
    overview = _overview(manifest, nodes)
    result.update(
        metadata=metadata,
        nodes={u: n for u, n in shown.items() if n["resource_type"] != "source"},
        sources={u: n for u, n in kept.items() if n["resource_type"] == "source"},
        docs={overview["unique_id"]: overview},
        parent_map=graph(manifest.get("parent_map") or {}),
        child_map=graph(manifest.get("child_map") or {}),
    )
    return result


# A resource the browser fetches by itself: an element's src, a style sheet, an @import, a CSS
# url(), or a script inserted from JavaScript (`x.src = "//host/..."`). Links (<a href>, also set
# from JavaScript: Angular's `a.href = "http://[::1]"` only parses a URL) and namespace names
# (xmlns) are not fetched and do not count.
_NETWORK_LOADS = [
    re.compile(r"""<(?:script|img|iframe|frame|embed|audio|video|source|track|input)\b[^>]*?"""
               r"""\bsrc(?:set)?\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", re.I),
    re.compile(r"""<link\b[^>]*?\bhref\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", re.I),
    re.compile(r"""@import\s+(?:url\(\s*)?["']?\s*(?:https?:)?//[^"')\s;]*""", re.I),
    re.compile(r"""\burl\(\s*["']?\s*(?:https?:)?//[^"')\s]*""", re.I),
    re.compile(r"""\.src\s*=\s*["']\s*(?:https?:)?//[^"']*""", re.I),
    re.compile(r"""\bimportScripts\(\s*["'](?:https?:)?//[^"']*""", re.I),
]  # fmt: skip
# dbt docs' Snowplow loader: `i.src="//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js"`.
_SCRIPT_URL = re.compile(r"""(\.src\s*=\s*)(["'])(?:https?:)?//[^"']*\2""")


def network_references(html: str) -> list[str]:
    """The network resources ``html`` would load (scripts, style sheets, fonts, images)."""
    return sorted({m.group(0)[:200] for p in _NETWORK_LOADS for m in p.finditer(html)})


def _offline(html: str) -> str:
    """Blank the URL of scripts inserted from JavaScript (dbt docs' tracker)."""
    return _SCRIPT_URL.sub(r"\1\2\2", html)


def _dbt_static_page(manifest: dict[str, Any]) -> str:
    """``dbt docs generate --static`` with ``manifest`` inlined, in a temporary target path."""
    with tempfile.TemporaryDirectory(prefix="fiw-catalog-") as tmp:
        target = Path(tmp) / "target"
        target.mkdir()
        # `</` escaped: the JSON is inlined into a <script> element.
        text = json.dumps(manifest, ensure_ascii=False).replace("</", "<\\/")
        (target / "manifest.json").write_text(text, encoding="utf-8")
        env = {
            **os.environ,
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            # No connection is made with these flags; should one ever be, not to the warehouse.
            "FIW_WAREHOUSE_PATH": str(Path(tmp) / "no-warehouse.duckdb"),
        }
        command = [
            dbt_executable(), "docs", "generate", "--static", "--empty-catalog", "--no-compile",
            "--no-write-json", "--no-send-anonymous-usage-stats", "--no-use-colors",
            "--project-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
            "--log-path", str(Path(tmp) / "logs"),
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False
        )
        page = target / "static_index.html"
        if done.returncode != 0 or not page.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise CatalogError(f"dbt docs generate failed (exit {done.returncode}):\n{tail}")
        if (target / "manifest.json").read_text(encoding="utf-8") != text:
            raise CatalogError("dbt rewrote the manifest: the page would show the whole project")
        return page.read_text(encoding="utf-8")


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def catalog_page(manifest: dict[str, Any]) -> str:
    """The docs site of the published tables of ``manifest``, one offline HTML file."""
    html = _offline(_dbt_static_page(published_manifest(manifest)))
    loads = network_references(html)
    if loads:
        raise CatalogError(f"the catalog page would load from the network: {loads}")
    return html


# Pages depend on the dbt project alone, so every home on the machine shares them.
CACHE_DIR = DBT_PROJECT_DIR / "target" / "catalog_cache"
_prebuilds: dict[Path, threading.Thread] = {}


def prebuild(cache_dir: Path = CACHE_DIR) -> None:
    """Build the page into ``cache_dir`` in the background when it is not there yet (dbt works in
    a subprocess, so this overlaps the dbt build); :func:`build_catalog` waits for it."""
    from fiw.resources import ensure_dbt_manifest

    raw = ensure_dbt_manifest().read_bytes()
    if (Path(cache_dir) / _page_name(raw)).is_file() or cache_dir in _prebuilds:
        return

    def target() -> None:
        with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(Exception):
            build_catalog(Path(tmp), cache_dir, wait=False)  # errors surface at publication

    thread = threading.Thread(target=target, name="fiw-prebuild-catalog", daemon=True)
    _prebuilds[cache_dir] = thread
    thread.start()


def _page_name(raw_manifest: bytes) -> str:
    return f"catalog-{hashlib.sha256(raw_manifest).hexdigest()}-v{PAGE_VERSION}.html"


def build_catalog(target_dir: Path, cache_dir: Path | None = CACHE_DIR, wait: bool = True) -> Path:
    """Write ``target_dir/index.html``, the dbt docs site of the published tables (offline, one
    file); return its path. With ``cache_dir``, a page already built from the same manifest is
    copied from there instead of running dbt (seconds), and only the newest page is kept."""
    from fiw.resources import ensure_dbt_manifest  # imports Dagster: only when needed

    if wait and cache_dir is not None and (thread := _prebuilds.pop(cache_dir, None)):
        thread.join()
    raw = ensure_dbt_manifest().read_bytes()
    name = _page_name(raw)
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    index = target_dir / "index.html"
    cached = Path(cache_dir) / name if cache_dir is not None else None
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, index)
        return index
    data = catalog_page(json.loads(raw)).encode("utf-8")
    _write(index, data)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _write(cached, data)
        for old in cached.parent.glob("catalog-*.html"):
            if old != cached:
                old.unlink(missing_ok=True)
    return index
