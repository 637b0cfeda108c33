"""Run Data to Insight's validators for the statutory returns (``csc-validator-be-903``, module
``lac_validator``; ``csc-validator-be-cin``, module ``cin_validator``) on some returns, and write
what they flag as JSON.

Runs only under the validators' own environment (tests/validators/setup.sh), never the project's:
the packages pin pandas<2 and numpy<2. Nothing from fiw is imported.

    .venv-validators/bin/python tests/validators/run_validators.py SPEC OUT

SPEC is a JSON object: snapshot name -> {"return": "903" or "cin", "files": [paths], "year": the
903 collection year as its ending year, e.g. "2018"}. All of a 903 snapshot's files are one
upload (CSV tables together, or one XML file); a CIN snapshot is one XML file.

OUT is a JSON object: {"versions": {package: version}, "snapshots": {snapshot name -> {
  "ruleset": the validators' rule set used (the collection year's, or the nearest they have),
  "rows": {table: rows read},
  "rules": {code: {"message", "fields", "records": rows flagged, "tables": {table: rows}}},
  "return_level": codes broken by the return as a whole (no record named),
  "failed_rules": codes whose code raised on this data (the validators then go on),
  "flagged": [{"table", "row" (0-based row of that table as the validator read it), "child",
               "id" (the record's id in fiw's form, where fiw loads that table), "codes",
               "fields" (CIN only: the fields named)}]}}}
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import sys
import warnings
import xml.etree.ElementTree as ET
from contextlib import redirect_stdout
from importlib.metadata import version
from pathlib import Path

import pandas as pd

# The ids fiw gives the records it loads (docs/returns.md): 903 episodes are CHILD/DECOM, CIN
# records hang from their referral LAchildID/CINreferralDate (/A/, /CIN/ or /CP/ and their start).
CIN_CHILD_TABLES = {
    "Assessments": ("A", "AssessmentActualStartDate"),
    "CINplanDates": ("CIN", "CINPlanStartDate"),
    "ChildProtectionPlans": ("CP", "CPPstartDate"),
}


def rule_set(package: str, prefix: str, year_ending: int) -> str:
    """The rule set for the collection year ending in ``year_ending``, or the nearest one."""
    folder = Path(list(importlib.import_module(f"{package}.rules").__path__)[0])
    have = sorted(int(p.name[len(prefix) : len(prefix) + 4]) + 1 for p in folder.glob(prefix + "*"))
    end = min(max(year_ending, have[0]), have[-1])
    return f"{prefix}{end - 1}_{end % 100:02d}"


def iso_from_903(value) -> str:
    """A 903 date (DD/MM/YYYY) as fiw writes it in ids (YYYY-MM-DD); else as it came."""
    text = "" if pd.isna(value) else str(value)
    parts = text.split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[2]}-{parts[1]}-{parts[0]}"
    return text


def iso(value) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return "" if pd.isna(value) else str(value)


def run_903(files: list[Path], year: str) -> dict:
    from lac_validator.lac_validator import LacValidator

    ruleset = rule_set("lac_validator", "lac", int(year))
    registry = importlib.import_module(f"lac_validator.rules.{ruleset}").registry
    uploads = [
        {"name": p.name, "description": "This year", "file_content": p.read_bytes()} for p in files
    ]
    # localAuthority only tells in-area placements from out-of-area ones (rules not compared here).
    metadata = {"collectionYear": year, "localAuthority": "E09000027"}
    validator = LacValidator(metadata=metadata, files=uploads, registry=registry)
    rules: dict[str, dict] = {}
    flagged = []
    for table, frame in validator.ds_results.items():
        if table == "metadata":
            continue
        errors = [c for c in frame.columns if c.startswith("ERR_")]
        for row, values in frame[errors].fillna(False).astype(bool).iterrows():
            codes = [c[4:] for c in errors if values[c]]
            if not codes:
                continue
            child = str(frame.at[row, "CHILD"])
            entry = {"table": table, "row": int(row), "child": child, "codes": codes}
            if table == "Episodes":
                entry["id"] = f"{child}/{iso_from_903(frame.at[row, 'DECOM'])}"
            elif table == "Header":
                entry["id"] = child
            flagged.append(entry)
            for code in codes:
                rule = rules.setdefault(code, describe(registry[code], "903"))
                rule["records"] += 1
                rule["tables"][table] = rule["tables"].get(table, 0) + 1
    return {
        "ruleset": ruleset,
        "rows": {t: len(f) for t, f in validator.dfs.items() if isinstance(f, pd.DataFrame)},
        "rules": dict(sorted(rules.items())),
        "return_level": [],
        "failed_rules": sorted(validator.fails),
        "flagged": flagged,
    }


def describe(rule, kind: str) -> dict:
    fields = rule.affected_fields if kind == "903" else getattr(rule, "affected_fields", None)
    return {
        "message": rule.message,
        "fields": sorted(fields or []),
        "records": 0,
        "tables": {},
    }


def run_cin(path: Path) -> dict:
    from cin_validator import cin_validator

    root = ET.parse(path).getroot()
    reference = root.findtext("Header/CollectionDetails/ReferenceDate") or ""
    day = pd.Timestamp(reference)
    ruleset = rule_set("cin_validator", "cin", day.year + (1 if day.month >= 4 else 0))
    registry = importlib.import_module(f"cin_validator.rules.{ruleset}").registry
    data = cin_validator.process_data(cin_validator.convert_data(root))
    raw = {name: frame.copy() for name, frame in data.items()}
    failed: list[str] = []
    said = io.StringIO()
    with redirect_stdout(said):  # the CIN validator prints, rather than logs, a rule that raised
        validator = cin_validator.CinValidator(data, registry)
    for line in said.getvalue().splitlines():
        if line.startswith("Error with rule "):
            failed.append(line[len("Error with rule ") :].split(":")[0])
    referrals = raw["CINdetails"].set_index(["LAchildID", "CINdetailsID"])["CINreferralDate"]
    issues = validator.full_issue_df
    rules: dict[str, dict] = {}
    flagged: dict[tuple[str, int], dict] = {}
    for record in issues.to_dict("records"):
        table, row, code = (
            record["tables_affected"],
            int(record["row_id"]),
            str(record["rule_code"]),
        )
        if pd.isna(table):
            continue
        entry = flagged.get((table, row))
        if entry is None:
            frame = raw[table]
            child = str(frame.at[row, "LAchildID"])
            entry = {"table": table, "row": row, "child": child, "codes": [], "fields": []}
            if table == "ChildIdentifiers":
                entry["id"] = child
            elif table == "CINdetails":
                entry["id"] = f"{child}/{iso(frame.at[row, 'CINreferralDate'])}"
            elif table in CIN_CHILD_TABLES:
                kind, start = CIN_CHILD_TABLES[table]
                referral = referrals.get(
                    (frame.at[row, "LAchildID"], frame.at[row, "CINdetailsID"])
                )
                entry["id"] = f"{child}/{iso(referral)}/{kind}/{iso(frame.at[row, start])}"
            flagged[(table, row)] = entry
        if code not in entry["codes"]:
            entry["codes"].append(code)
            rule = rules.setdefault(code, describe(registry[code], "cin"))
            rule["records"] += 1
            rule["tables"][table] = rule["tables"].get(table, 0) + 1
        field = record["columns_affected"]
        if isinstance(field, str) and field not in entry["fields"]:
            entry["fields"].append(field)
    for code in sorted(set(validator.multichild_issues["rule_code"].astype(str))):
        rules.setdefault(code, describe(registry[code], "cin"))
    return {
        "ruleset": ruleset,
        "rows": {t: len(f) for t, f in raw.items() if t != "Header"},
        "rules": dict(sorted(rules.items())),
        "return_level": sorted(set(validator.multichild_issues["rule_code"].astype(str))),
        "failed_rules": sorted(set(failed)),
        "flagged": sorted(flagged.values(), key=lambda e: (e["table"], e["row"])),
    }


def main(spec_path: str, out_path: str) -> None:
    logging.disable(logging.CRITICAL)  # the 903 validator logs every rule at INFO
    warnings.simplefilter("ignore")  # pandas FutureWarnings from the rules' code
    spec = json.loads(Path(spec_path).read_text())
    packages = ("csc-validator-be-903", "csc-validator-be-cin")
    out: dict[str, dict] = {"versions": {p: version(p) for p in packages}, "snapshots": {}}
    for name, snapshot in spec.items():
        files = [Path(p) for p in snapshot["files"]]
        if snapshot["return"] == "903":
            result = run_903(files, snapshot["year"])
        else:
            (path,) = files
            result = run_cin(path)
        out["snapshots"][name] = result
        broken = len(result["rules"])
        print(f"{name}: {result['ruleset']}, {broken} rules broken", file=sys.stderr)
    Path(out_path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
