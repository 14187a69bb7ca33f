#!/usr/bin/env python3
"""Writes rules/samples/*.yaml: real CloudTrail records, named, for the rules' tests.

Each record is copied unchanged from tests/corpora (whose folders name their origin and
license); a rule test starts from one by name and changes a few fields:
    event: {sample: stratus.StopLogging, with: {errorCode: TrailNotFoundException}}

usage: scripts/samples.py            (rewrites the files; stdlib only)
"""
import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPORA = os.path.join(ROOT, "tests", "corpora")
OUT = os.path.join(ROOT, "rules", "samples")

# Read-only calls kept as samples anyway: rules or their near misses use them.
READS = {"GetPasswordData", "GetSecretValue", "BatchGetSecretValue", "GetParameters", "GetParameter",
         "GetFederationToken", "DescribeInstanceAttribute", "GetCallerIdentity", "DescribeInstances",
         "ListUsers", "GetUser", "InvokeModel", "Decrypt", "DescribeTrails", "ListBuckets"}
NOISE = re.compile(r"^(Describe|Get|List|Head|Lookup|Search|Check)")

PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(v, ensure_ascii=False)


def key(k):
    return k if PLAIN_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def emit(v, indent, out):
    """Block YAML; every string double-quoted so YAML typing never changes a value."""
    pad = "  " * indent
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, dict) and x:
                out.append(f"{pad}{key(k)}:")
                emit(x, indent + 1, out)
            elif isinstance(x, list) and x:
                out.append(f"{pad}{key(k)}:")
                emit(x, indent + 1, out)
            else:
                out.append(f"{pad}{key(k)}: {scalar(x) if not isinstance(x, (dict, list)) else json.dumps(x)}")
    else:
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = []
                emit(x, indent + 1, sub)
                first = sub[0].strip()
                out.append(f"{pad}- {first}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {scalar(x) if not isinstance(x, (dict, list)) else json.dumps(x)}")


def pick(records, prefix):
    """One record per (eventName, errorCode) of the writes and the READS, named
    prefix.EventName[.ErrorCode]."""
    chosen = {}
    for r in records:
        name = r.get("eventName", "")
        if NOISE.match(name) and name not in READS:
            continue
        code = r.get("errorCode")
        label = f"{prefix}.{name}" + (f".{code}" if code else "")
        chosen.setdefault(label, r)
    return chosen


def write(path, header, samples):
    lines = [f"# {h}" if h else "#" for h in header]
    for name in sorted(samples):
        lines.append(f"{name}:")
        emit(samples[name], 1, lines)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    stratus = json.load(open(os.path.join(CORPORA, "stratus-red-team_detonation-logs", "stratus_all.Records.json")))["Records"]
    write(os.path.join(OUT, "stratus.yaml"), [
        "Samples for rule tests: real records from Stratus Red Team detonations (Datadog Grimoire),",
        "github.com/DataDog/stratus-red-team docs/detonation-logs, Apache-2.0; copied unchanged from",
        "tests/corpora/stratus-red-team_detonation-logs by scripts/samples.py (do not edit by hand).",
        "Named stratus.<eventName>[.<errorCode>]; one record per name.",
    ], pick(stratus, "stratus"))
    invictus = []
    for f in sorted(glob.glob(os.path.join(CORPORA, "invictus-ir_aws_dataset", "CloudTrail", "*.json"))):
        invictus += json.load(open(f))["Records"]
    write(os.path.join(OUT, "invictus.yaml"), [
        "Samples for rule tests: real records from github.com/invictus-ir/aws_dataset (MIT,",
        "Copyright (c) 2023 Invictus Incident Response); copied unchanged from",
        "tests/corpora/invictus-ir_aws_dataset by scripts/samples.py (do not edit by hand).",
        "Named invictus.<eventName>[.<errorCode>]; one record per name.",
    ], pick(invictus, "invictus"))
    docs = json.load(open(os.path.join(CORPORA, "awsdocs-examples", "awsdocs_examples.Records.json")))["Records"]
    index = [json.loads(l) for l in open(os.path.join(CORPORA, "awsdocs-examples", "awsdocs_examples.index.jsonl"))]
    named = {}
    for rec, meta in zip(docs, index):
        slug = re.sub(r"[^a-z0-9]+", "-", meta["heading"].lower()).strip("-")
        named.setdefault(f"awsdocs.{rec.get('eventName', 'record')}.{slug}", rec)
    write(os.path.join(OUT, "awsdocs.yaml"), [
        "Samples for rule tests: the example records of the AWS CloudTrail and IAM user guides",
        "(github.com/awsdocs/aws-cloudtrail-user-guide and iam-user-guide; CC BY-SA 4.0 / modified MIT,",
        "\"AWS documentation\"); copied unchanged from tests/corpora/awsdocs-examples by",
        "scripts/samples.py (do not edit by hand). Named awsdocs.<eventName>.<the guide's heading>.",
    ], named)


if __name__ == "__main__":
    main()
