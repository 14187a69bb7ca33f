#!/usr/bin/env python3
"""Writes examples/attack-story/: one morning of an account's trail, an intrusion among
ordinary work, for `make run` (see examples/README.md for the story).

The records are made for trailwatch, shaped like the real ones in tests/corpora (same
fields, same nesting); the accounts, addresses and names are documentation values.
usage: scripts/story.py   (stdlib only; rewrites the two gzipped files)
"""
import gzip
import json
import os
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples", "attack-story")
ACCOUNT = "111122223333"
OUTSIDE = "444455556666"
ATTACKER_IP = "203.0.113.66"
OFFICE_IP = "198.51.100.20"
REGION = "eu-west-1"
N = [0]


def eid():
    N[0] += 1
    return str(uuid.UUID(int=0x5707 << 112 | N[0], version=4))


def user(name, key="AKIAIOSFODNN7EXAMPLE", mfa=None, console=False):
    u = {"type": "IAMUser", "principalId": "AIDA" + name.upper().replace("-", "")[:12].ljust(12, "X"),
         "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "accountId": ACCOUNT, "userName": name}
    if key:
        u["accessKeyId"] = key
    if mfa is not None:
        u["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                               "attributes": {"creationDate": "2024-11-05T09:34:10Z", "mfaAuthenticated": mfa}}
    return u


def role(name, session, service=None):
    u = {"type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID:{session}",
         "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}", "accountId": ACCOUNT,
         "accessKeyId": "ASIAEXAMPLESESSION01",
         "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID",
                                              "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "accountId": ACCOUNT,
                                              "userName": name},
                            "attributes": {"creationDate": "2024-11-05T08:00:00Z", "mfaAuthenticated": "false"}}}
    if service:
        u["invokedBy"] = service
    return u


def rec(time, source, name, identity, ip, params=None, response=None, error=None, read_only=False,
        agent="aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22"):
    r = {"eventVersion": "1.09", "userIdentity": identity, "eventTime": time,
         "eventSource": f"{source}.amazonaws.com", "eventName": name, "awsRegion": REGION,
         "sourceIPAddress": ip, "userAgent": agent, "requestParameters": params, "responseElements": response,
         "requestID": str(uuid.uuid4()), "eventID": eid(), "readOnly": read_only, "eventType": "AwsApiCall",
         "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management"}
    if error:
        r["errorCode"], r["errorMessage"] = error
    return r


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"


def signin(time, identity, ip, ok, mfa="No", message=None):
    r = rec(time, "signin", "ConsoleLogin", identity, ip, None, {"ConsoleLogin": "Success" if ok else "Failure"},
            agent=BROWSER)
    r["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No",
                                "MFAUsed": mfa}
    r["eventType"] = "AwsConsoleSignIn"
    r["awsRegion"] = "us-east-1"
    if not ok:
        r["errorMessage"] = message
    return r


def story():
    hidden = {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": "",
              "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    alice = user("alice", key="ASIAEXAMPLECONSOLE1", mfa="false")
    backup = user("svc-backup", key="AKIAEXAMPLEBACKDOOR1")
    deploy = role("github-deploy", "run-7731")
    ev = []
    # 08:55-09:20 ordinary work: automation describes, a user rotates their own key, an
    # engineer signs in with MFA, EC2 assumes its instance role.
    ev.append(rec("2024-11-05T08:55:02Z", "ec2", "DescribeInstances", deploy, "192.0.2.10",
                  {"instancesSet": {}, "filterSet": {}}, None, read_only=True))
    ev.append(rec("2024-11-05T09:01:40Z", "iam", "CreateAccessKey", user("bob"), OFFICE_IP, {},
                  {"accessKey": {"accessKeyId": "AKIAEXAMPLEBOBNEW01", "status": "Active", "userName": "bob",
                                 "createDate": "Nov 5, 2024 9:01:40 AM"}}))
    ev.append(signin("2024-11-05T09:05:12Z", user("carol", key=None), OFFICE_IP, True, mfa="Yes"))
    ec2_svc = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    ev.append(rec("2024-11-05T09:10:00Z", "sts", "AssumeRole", ec2_svc, "ec2.amazonaws.com",
                  {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/web-instance", "roleSessionName": "i-0abc1234def567890"},
                  None, agent="ec2.amazonaws.com"))
    # 09:30-09:33 someone guesses passwords: five failures with a mistyped user name.
    for i, t in enumerate(["09:30:05", "09:30:51", "09:31:37", "09:32:20", "09:33:02"]):
        ev.append(signin(f"2024-11-05T{t}Z", hidden, ATTACKER_IP, False,
                         message="No username found in supplied account"))
    # 09:34 then signs in as alice, who has no MFA.
    ev.append(signin("2024-11-05T09:34:10Z", user("alice", key=None), ATTACKER_IP, True, mfa="No"))
    # 09:36 makes a user of their own, an administrator, with an access key.
    ev.append(rec("2024-11-05T09:36:00Z", "iam", "CreateUser", alice, ATTACKER_IP, {"userName": "svc-backup"},
                  {"user": {"userName": "svc-backup", "userId": "AIDAEXAMPLEBACKUP01", "path": "/",
                            "arn": f"arn:aws:iam::{ACCOUNT}:user/svc-backup", "createDate": "Nov 5, 2024 9:36:00 AM"}},
                  agent=BROWSER))
    ev.append(rec("2024-11-05T09:36:21Z", "iam", "AttachUserPolicy", alice, ATTACKER_IP,
                  {"userName": "svc-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None,
                  agent=BROWSER))
    ev.append(rec("2024-11-05T09:36:40Z", "iam", "CreateAccessKey", alice, ATTACKER_IP, {"userName": "svc-backup"},
                  {"accessKey": {"accessKeyId": "AKIAEXAMPLEBACKDOOR1", "status": "Active", "userName": "svc-backup",
                                 "createDate": "Nov 5, 2024 9:36:40 AM"}}, agent=BROWSER))
    # 09:40 with the new key: tries to delete the trail (wrong name), then stops it.
    ev.append(rec("2024-11-05T09:40:03Z", "cloudtrail", "DeleteTrail", backup, ATTACKER_IP, {"name": "main-trail"},
                  None, error=("TrailNotFoundException",
                               f"Unknown trail: main-trail for the user: {ACCOUNT}")))
    ev.append(rec("2024-11-05T09:40:30Z", "cloudtrail", "StopLogging", backup, ATTACKER_IP,
                  {"name": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/org-trail"}, None))
    # 09:42-09:44 reads every secret it can find.
    for i in range(12):
        ev.append(rec(f"2024-11-05T09:{42 + i // 6}:{(i % 6) * 9 + 3:02d}Z", "secretsmanager", "GetSecretValue",
                      backup, ATTACKER_IP, {"secretId": f"prod/app-{i:02d}/db-password"}, None, read_only=True))
    # 09:46 shares a database snapshot with an account outside, and opens a role to it.
    ev.append(rec("2024-11-05T09:46:10Z", "ec2", "ModifySnapshotAttribute", backup, ATTACKER_IP,
                  {"snapshotId": "snap-0f1e2d3c4b5a69788", "attributeType": "CREATE_VOLUME_PERMISSION",
                   "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE}]}}},
                  {"requestId": str(uuid.uuid4()), "_return": True}))
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "Action": "sts:AssumeRole"}]}
    ev.append(rec("2024-11-05T09:47:02Z", "iam", "UpdateAssumeRolePolicy", backup, ATTACKER_IP,
                  {"roleName": "web-instance", "policyDocument": json.dumps(trust, indent=2)}, None))
    return ev


def main():
    os.makedirs(OUT, exist_ok=True)
    ev = story()
    # Delivered as CloudTrail does, in files of a few minutes' events.
    halves = [("0855Z_a", [e for e in ev if e["eventTime"] < "2024-11-05T09:30"]),
              ("0930Z_b", [e for e in ev if e["eventTime"] >= "2024-11-05T09:30"])]
    for suffix, records in halves:
        name = f"{ACCOUNT}_CloudTrail_{REGION}_20241105T{suffix}.json.gz"
        with gzip.GzipFile(os.path.join(OUT, name), "wb", mtime=0) as f:
            f.write(json.dumps({"Records": records}).encode())


if __name__ == "__main__":
    main()
