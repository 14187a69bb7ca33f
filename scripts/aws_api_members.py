#!/usr/bin/env python3
"""Writes src/rules/aws_api/members.txt.gz: each AWS API operation's request members, so
`trailwatch validate` can say that `requestParameters.usrName` on CreateAccessKey never
matches (CloudTrail's requestParameters mirror the request of the call it records).

usage: .venv/bin/python scripts/aws_api_members.py [--botocore DATA_DIR] [--out FILE]
       (or `make aws-api`; stdlib only: it reads botocore's data files, never imports it)

DATA_DIR defaults to the data folder of the botocore installed in .venv (pinned in
requirements-dev.txt); each service's newest service-2.json.gz is read. The output is a
gzipped text file, sorted, byte-identical for the same botocore:

    # comment lines (source, version, license)
    @<service> <protocol> <on|off> <casing> <eventSource>[,<eventSource>...] [suffix]
    <Operation> <Member> <Member> ... +<extra> ...

* protocol: the one CloudTrail's naming was measured for. A service now served as
  smithy-rpc-v2-cbor keeps the protocol it had before (the last of `protocols`).
* on|off: whether validate warns for the service; off for the protocols whose records
  do not follow the model (EXCLUDED_PROTOCOLS below says why).
* casing: how CloudTrail spells a member: `camel` (the model's name with its first
  letter in lower case: UserName -> userName, SAMLAssertion -> sAMLAssertion),
  `verbatim` (the model's name), or `either` for services no real record shows yet.
* eventSource: `<endpointPrefix>.amazonaws.com`, and `<signingName>.amazonaws.com` when
  that differs (CloudTrail uses either: ecr, ses, s3control and bedrock-runtime go by
  their signing name, servicecatalog-appregistry by its endpoint prefix).
* suffix: CloudTrail appends the API version to the service's event names
  (Lambda: UpdateFunctionCode20150331v2 for UpdateFunctionCode).
* members: the top-level members of the operation's input shape, as the model spells
  them; `+name` is a key CloudTrail writes that the model lacks, as CloudTrail spells it.

The constants below are what real CloudTrail records (tests/corpora; tests/aws_api.rs
measures them on every test run) say where the model alone cannot.
"""
import argparse
import glob
import gzip
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "rules", "aws_api", "members.txt.gz")

# Protocols whose requestParameters do not follow the model's members (measured on the
# corpora by tests/aws_api.rs; reasons in src/rules/aws_api/README.md).
EXCLUDED_PROTOCOLS = {
    # EC2 writes its XML names with "Set" lists (instancesSet, filterSet, groupSet) and
    # newer calls as one <Operation>Request key: a quarter of real keys are members.
    "ec2",
    # S3 writes bucketName, Host and sub-resource names (acl, policy, tagging); the other
    # REST-XML services (CloudFront, Route 53, S3 Control) have no records to tell.
    "rest-xml",
    # Services served only as smithy-rpc-v2-cbor: no records to measure.
    "smithy-rpc-v2-cbor",
}

# Services whose real records spell members as the model does (RegionName).
VERBATIM = {"account", "ce", "devops-guru", "resource-explorer-2"}

# Services whose real records spell members in lowerCamel (UserName -> userName). A
# service in neither set is `either`: no real record shows a member the two spellings
# tell apart, so validate accepts both.
CAMEL = {
    "autoscaling", "cloudtrail", "cloudwatch", "docdb", "ec2", "ec2-instance-connect",
    "elb", "elbv2", "guardduty", "iam", "kms", "lambda", "neptune", "organizations", "rds",
    "route53resolver", "secretsmanager", "ssm", "sts",
}

# Services whose event names carry the API version (seen in real records).
SUFFIXED = {"lambda"}

# Keys CloudTrail writes that the model does not have, each seen in a real trail.
EXTRAS = {
    # awsdocs-examples (the IAM user guide's AssumeRole record)
    ("sts", "AssumeRole"): ["incomingTransitiveTags"],
    # awsdocs-examples (the IAM user guide's AssumeRoleWithSAML record): values CloudTrail
    # takes from the SAML assertion
    ("sts", "AssumeRoleWithSAML"): ["sAMLAssertionID", "roleSessionName", "sourceIdentity",
                                    "principalTags", "transitiveTagKeys"],
    # invictus-ir and stratus-red-team trails
    ("ssm", "SendCommand"): ["interactive"],
    # invictus-ir and stratus-red-team (aws.persistence.lambda-overwrite-code)
    ("lambda", "UpdateFunctionCode"): ["fullyQualifiedArn"],
    # stratus-red-team: aws.defense-evasion.dns-delete-logs
    ("route53resolver", "DeleteResolverQueryLogConfig"): ["originSequenceNumber"],
    # stratus-red-team: aws.lateral-movement.ec2-serial-console-send-ssh-public-key
    ("ec2-instance-connect", "SendSerialConsoleSSHPublicKey"): ["monitorMode"],
    # OTRF Security-Datasets (the console's alarm list)
    ("cloudwatch", "DescribeAlarms"): ["excludeManagedAlarms"],
}


def default_data_dir():
    found = sorted(glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages",
                                          "botocore", "data")))
    return found[-1] if found else None


def botocore_version(data_dir):
    init = os.path.join(os.path.dirname(data_dir), "__init__.py")
    with open(init, encoding="utf-8") as f:
        m = re.search(r"^__version__ = ['\"]([^'\"]+)['\"]", f.read(), re.M)
    return m.group(1) if m else "unknown"


def newest_model(service_dir):
    versions = sorted(glob.glob(os.path.join(service_dir, "*", "service-2.json.gz")))
    if not versions:
        return None
    with gzip.open(versions[-1], "rt", encoding="utf-8") as f:
        return json.load(f)


def protocol(meta):
    p = meta["protocol"]
    if p == "smithy-rpc-v2-cbor":
        older = [x for x in meta.get("protocols", []) if x != p]
        if older:
            return older[-1]
    return p


def event_sources(meta):
    hosts = []
    for name in (meta.get("endpointPrefix"), meta.get("signingName")):
        if name and f"{name}.amazonaws.com" not in hosts:
            hosts.append(f"{name}.amazonaws.com")
    return hosts


def service_lines(name, model):
    meta = model["metadata"]
    proto = protocol(meta)
    on = "off" if proto in EXCLUDED_PROTOCOLS else "on"
    casing = "verbatim" if name in VERBATIM else "camel" if name in CAMEL else "either"
    head = f"@{name} {proto} {on} {casing} {','.join(event_sources(meta))}"
    if name in SUFFIXED:
        head += " suffix"
    lines = [head]
    for (svc, op_name), extras in EXTRAS.items():
        if svc != name:
            continue
        members = model["operations"].get(op_name, {}).get("input")
        if members is None:
            sys.exit(f"EXTRAS: {name} {op_name} is not an operation with input in this model")
        members = model["shapes"][members["shape"]].get("members", {})
        for e in extras:
            if e[:1].upper() + e[1:] in members or e in members:
                print(f"note: EXTRAS {name} {op_name} {e} is now in the model; drop it",
                      file=sys.stderr)
    # Sorted ignoring case: validate finds a name by binary search in that order.
    for op_name in sorted(model["operations"], key=lambda n: (n.lower(), n)):
        op = model["operations"][op_name]
        members = []
        if op.get("input"):
            members = sorted(model["shapes"][op["input"]["shape"]].get("members", {}))
        extras = ["+" + e for e in sorted(EXTRAS.get((name, op_name), []))]
        lines.append(" ".join([op_name] + members + extras))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--botocore", default=default_data_dir(),
                    help="botocore's data folder (default: the one in .venv)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    if not args.botocore or not os.path.isdir(args.botocore):
        sys.exit("no botocore data folder: run `make venv` or pass --botocore")
    version = botocore_version(args.botocore)
    lines = [
        "# AWS API request members for `trailwatch validate` (src/rules/aws_api).",
        f"# Generated by scripts/aws_api_members.py from botocore {version}",
        "# (https://github.com/boto/botocore, Apache License 2.0); do not edit by hand.",
    ]
    services = 0
    seen = set()
    for name in sorted(os.listdir(args.botocore)):
        path = os.path.join(args.botocore, name)
        model = newest_model(path) if os.path.isdir(path) else None
        if model is None:
            continue
        lines.extend(service_lines(name, model))
        seen.add(name)
        services += 1
    for wanted in VERBATIM | CAMEL | SUFFIXED | {s for s, _ in EXTRAS}:
        if wanted not in seen:
            sys.exit(f"{wanted}: named in this script but not in botocore {version}")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{args.out}: {services} services from botocore {version}, "
          f"{len(data)} bytes of text, {os.path.getsize(args.out)} gzipped")


if __name__ == "__main__":
    main()
