#!/usr/bin/env python3
"""The reference side of the Sigma differential test: what pySigma says a rule matches.

usage: .venv/bin/python scripts/sigma_reference.py RULES_DIR OUT.json INPUT...

Every Sigma rule in RULES_DIR (*.yml, *.yaml, recursively) whose logsource is
{product: aws, service: cloudtrail} is converted by pySigma's SQLite backend
(sigma.backends.sqlite, pinned with pySigma in requirements-dev.txt) without a
processing pipeline, so fields keep the names the rule writes. Every CloudTrail record
of the INPUTs (files or folders read recursively in sorted order; {"Records": [...]}, a
bare JSON array or NDJSON, gzipped or not) is loaded into an in-memory SQLite table,
the query runs, and the eventIDs of the matching records ("#<file>:<index>" for a record
without one) are written to OUT.json:
    {"rules": {"<rule path under RULES_DIR>": {"id", "title", "sql", "error",
               "matches": {"<INPUT as given>": [eventID, ... sorted]}}},
     "versions": {"pysigma": ..., "pysigma-backend-sqlite": ...}}
One entry per matching record, so duplicated eventIDs appear as often as they match.
"error" is null, or why the rule could not be parsed, converted or run (its "matches"
is then {}). Other logsources get {"id", "title", "skipped"}; correlation rules an error.

Why it is the reference: the SQL is pySigma's own reading of the rule (modifiers,
wildcards, escaping, null-safe negation), executed by SQLite; nothing here interprets
Sigma. The script only builds the table that SQL is written for, the layout of
Zircolite (the backend's main consumer): one flat row per event, one column per field
named by its dotted path as written (`requestParameters.bucketName`, quoted by the
backend with backticks; plain columns, no json_extract).

Case: every column is TEXT COLLATE NOCASE, the backend's convention (it emits plain
`field='value'` and leaves case to the column; LIKE ignores case anyway; `|cased` uses
GLOB, `|re` our REGEXP, both case-sensitive). Folding is ASCII-only in SQLite.
Values: strings as they are; numbers and booleans as their JSON text (true -> 'true');
objects and arrays as their compact JSON text (json.dumps with separators=(",", ":"), keys sorted as serde_json writes them,
non-ASCII kept), so `requestParameters|contains: X` searches the object's JSON the way
SIEM backends do; objects are also flattened (`a.b.c`), arrays are not entered. JSON
null and a missing field are both SQL NULL. As all values are text, |gt/|lt/... compare
as text ('42' < '5'); no SigmaHQ CloudTrail rule uses them. Each rule gets a table of
just the columns it names (SQLite caps a table at 2000 columns and ignores their case).
"""
import functools
import gzip
import json
import os
import re
import sqlite3
import sys
from importlib.metadata import version

import yaml  # installed with pysigma
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")
RECORD = "__record__"  # the column holding a row's index in RECORDS


def input_files(path):
    if not os.path.isdir(path):
        return [path]
    found = [os.path.join(root, name) for root, _, names in os.walk(path) for name in names]
    return sorted(f for f in found if f.endswith(SUFFIXES))


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    records = []
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            records += doc["Records"]
        elif isinstance(doc, list):
            records += doc
        else:
            records.append(doc)
    return records


def as_text(value):
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def flatten(obj, out, prefix=""):
    """Every path of obj, objects included as JSON text; the first of colliding paths wins."""
    for key, value in obj.items():
        out.setdefault(prefix + key, as_text(value))
        if isinstance(value, dict):
            flatten(value, out, prefix + key + ".")
    return out


@functools.lru_cache(maxsize=None)
def compiled(pattern):
    return re.compile(pattern)


def regexp(pattern, value):  # SQLite calls regexp(Y, X) for "X REGEXP Y"
    return value is not None and compiled(pattern).search(value) is not None


def quote(name):
    return "`" + name.replace("`", "``") + "`"


def run(db, backend, queries, fields, records):
    """The indexes of the records any of the queries matches."""
    columns = list({f.lower(): f for f in reversed(fields) if f.lower() != "rowid"}.values())
    table = backend.resolve_table()
    db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute(f"CREATE TABLE {table} ({RECORD} INTEGER"
               + "".join(f", {quote(c)} TEXT COLLATE NOCASE" for c in columns) + ")")
    db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * (len(columns) + 1))})",
                   ([n] + [flat.get(c) for c in columns] for n, (_, _, flat) in enumerate(records)))
    hits = set()
    for sql in queries:
        cursor = db.execute(sql)
        at = [d[0] for d in cursor.description].index(RECORD)
        hits.update(row[at] for row in cursor)
    return hits


def check_rule(db, text, records, inputs):
    """The OUT.json entry of one rule file."""
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    head = docs[0] if docs else {}
    entry = {"id": head.get("id"), "title": head.get("title")}
    if any("correlation" in d for d in docs):
        return {**entry, "matches": {}, "sql": None,
                "error": "correlation rule: this reference runs single-event rules only"}
    logsource = next((d["logsource"] for d in docs if isinstance(d.get("logsource"), dict)), {})
    if logsource.get("product") != "aws" or logsource.get("service") != "cloudtrail":
        return {**entry, "skipped": f"logsource {json.dumps(logsource)} is not aws/cloudtrail"}
    entry.update(matches={}, sql=None, error=None)
    try:
        collection = SigmaCollection.from_yaml(text)
        backend = sqliteBackend()
        queries = backend.convert(collection)
        entry["sql"] = ";\n".join(queries)
        rules = [r for r in collection.rules if isinstance(r, SigmaRule)]
        fields = [f for r in rules for f in backend.required_fields(r)]
        hits = run(db, backend, queries, fields, records)
    except Exception as e:  # pySigma's errors, SQLite's, a regex Python's re refuses
        entry["error"] = f"{type(e).__name__}: {e}"
        return entry
    matches = {inp: [] for inp in inputs}
    for n in hits:
        matches[records[n][0]].append(records[n][1])
    entry["matches"] = {inp: sorted(ids) for inp, ids in matches.items()}
    return entry


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    rules_dir, out, inputs = argv[0], argv[1], argv[2:]
    records = []  # (INPUT as given, eventID or "#<file>:<index>", flattened record)
    for inp in inputs:
        for path in input_files(inp):
            for i, record in enumerate(read_records(path)):
                if isinstance(record, dict):
                    eid = record.get("eventID")
                    key = eid if isinstance(eid, str) else f"#{path}:{i}"
                    records.append((inp, key, flatten(record, {})))
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, regexp, deterministic=True)
    rules = {}
    for root, _, names in os.walk(rules_dir):
        for name in names:
            if name.endswith((".yml", ".yaml")):
                path = os.path.join(root, name)
                rules[os.path.relpath(path, rules_dir)] = path
    result = {"rules": {}, "versions": {p: version(p) for p in ("pysigma", "pysigma-backend-sqlite")}}
    for name in sorted(rules):
        with open(rules[name], encoding="utf-8") as f:
            try:
                result["rules"][name] = check_rule(db, f.read(), records, inputs)
            except yaml.YAMLError as e:
                result["rules"][name] = {"id": None, "title": None, "matches": {}, "sql": None,
                                         "error": f"YAML: {e}"}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(records)} records, {len(rules)} rules -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
