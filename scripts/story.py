#!/usr/bin/env python3
"""Writes examples/attack-story/: one morning of an account's trail, an intrusion among
ordinary work, for `make run` (see examples/README.md for the story); and
tests/fixtures/normal-work.json.gz: a day of ordinary work that must not page.

The records are made for trailwatch, shaped like the real ones in tests/corpora (same
fields, same nesting); the accounts, addresses and names are documentation values.
usage: scripts/story.py   (stdlib only; rewrites the gzipped files)
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
         "requestID": str(uuid.UUID(int=0x7e9 << 112 | N[0] + 1, version=4)), "eventID": eid(), "readOnly": read_only, "eventType": "AwsApiCall",
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
                  {"requestId": str(uuid.UUID(int=0x7e9 << 112 | 0xffff, version=4)), "_return": True}))
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "Action": "sts:AssumeRole"}]}
    ev.append(rec("2024-11-05T09:47:02Z", "iam", "UpdateAssumeRolePolicy", backup, ATTACKER_IP,
                  {"roleName": "web-instance", "policyDocument": json.dumps(trust, indent=2)}, None))
    return ev


def normal_day():
    """A day of ordinary work that no rule of medium severity or above may page on."""
    ev = []
    monitor = role("monitoring-readonly", "scanner")
    app = role("orders-app", "i-0abc1234def567890")
    sso = {"type": "AssumedRole", "principalId": "AROAEXAMPLESSO:dana@example.com",
           "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/dana@example.com",
           "accountId": ACCOUNT, "sessionContext": {"sessionIssuer": {
               "type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef",
               "accountId": ACCOUNT, "userName": "AWSReservedSSO_Admin_0123456789abcdef"}}}
    def t(minute):
        return f"2024-11-06T{8 + minute // 60:02d}:{minute % 60:02d}:{(minute * 7) % 60:02d}Z"
    # A user rotates their own access key (no userName: the caller's own).
    ev.append(rec(t(5), "iam", "CreateAccessKey", user("bob"), OFFICE_IP, {},
                  {"accessKey": {"accessKeyId": "AKIAEXAMPLEBOBNEW02", "status": "Active", "userName": "bob"}}))
    ev.append(rec(t(6), "iam", "UpdateAccessKey", user("bob"), OFFICE_IP,
                  {"accessKeyId": "AKIAEXAMPLEBOBOLD01", "status": "Inactive"}, None))
    ev.append(rec(t(7), "iam", "DeleteAccessKey", user("bob"), OFFICE_IP, {"accessKeyId": "AKIAEXAMPLEBOBOLD01"}, None))
    # Console sign-ins: a typo then MFA; an SSO user (MFA not recorded for federated users).
    ev.append(signin(t(10), user("carol", key=None), OFFICE_IP, False, mfa="Yes", message="Failed authentication"))
    ev.append(signin(t(11), user("carol", key=None), OFFICE_IP, True, mfa="Yes"))
    ev.append(signin(t(12), sso, OFFICE_IP, True, mfa="No"))
    saml = {"type": "SAMLUser", "principalId": "EXAMPLE/dana@example.com", "userName": "dana@example.com",
            "identityProvider": "EXAMPLE"}
    ev.append(rec(t(12), "sts", "AssumeRoleWithSAML", saml, OFFICE_IP,
                  {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/ReadOnly", "principalArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/EXAMPLE"},
                  None))
    # AWS services assume their roles all day.
    for i, svc in enumerate(["lambda", "ec2", "ecs-tasks", "events", "config"]):
        ev.append(rec(t(15 + i), "sts", "AssumeRole", {"type": "AWSService", "invokedBy": f"{svc}.amazonaws.com"},
                      f"{svc}.amazonaws.com", {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{svc}-role",
                                               "roleSessionName": f"{svc}-session"}, None, agent=f"{svc}.amazonaws.com"))
    # Same-account role chaining by an engineer.
    ev.append(rec(t(20), "sts", "AssumeRole", user("carol"), OFFICE_IP,
                  {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/ops", "roleSessionName": "carol"}, None))
    # Automation lists and describes everything, every 15 minutes, all day.
    reads = [("ec2", "DescribeInstances"), ("ec2", "DescribeSecurityGroups"), ("ec2", "DescribeVpcs"),
             ("s3", "ListBuckets"), ("s3", "GetBucketAcl"), ("s3", "GetBucketPolicy"), ("iam", "ListUsers"),
             ("iam", "ListRoles"), ("iam", "GetAccountSummary"), ("cloudtrail", "DescribeTrails"),
             ("cloudtrail", "GetTrailStatus"), ("kms", "ListKeys"), ("lambda", "ListFunctions20150331"),
             ("rds", "DescribeDBInstances"), ("guardduty", "ListDetectors")]
    for minute in range(0, 600, 15):
        for source, name in reads:
            ev.append(rec(t(minute), source, name, monitor, "192.0.2.10", {}, None, read_only=True))
    # An application reads its three secrets and two SecureString parameters every 10 minutes.
    for minute in range(0, 600, 10):
        for secret in ["orders/db", "orders/stripe-key", "orders/jwt-signing"]:
            ev.append(rec(t(minute), "secretsmanager", "GetSecretValue", app, "192.0.2.30",
                          {"secretId": secret}, None, read_only=True))
        for name in ["/orders/db-password", "/orders/api-token"]:
            r = rec(t(minute), "ssm", "GetParameter", app, "192.0.2.30", {"name": name, "withDecryption": True},
                    None, read_only=True)
            r["resources"] = [{"ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}", "accountId": ACCOUNT}]
            ev.append(r)
    # The console polls an API the user may not call: a few denials, no burst.
    for i in range(3):
        ev.append(rec(t(300 + i * 20), "health", "DescribeEventAggregates", user("carol", key="ASIAEXAMPLECONSOLE2"),
                      OFFICE_IP, None, None, error=("AccessDenied", "User: arn:aws:iam::111122223333:user/carol is not "
                                                    "authorized to perform: health:DescribeEventAggregates"),
                      read_only=True, agent=BROWSER))
    # A Lambda permission for S3, scoped to this account and one bucket.
    ev.append(rec(t(400), "lambda", "AddPermission20150331v2", user("carol"), OFFICE_IP,
                  {"functionName": "thumbnailer", "statementId": "s3-invoke", "action": "lambda:InvokeFunction",
                   "principal": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads-111122223333",
                   "sourceAccount": ACCOUNT},
                  {"statement": json.dumps({"Sid": "s3-invoke", "Effect": "Allow",
                                            "Principal": {"Service": "s3.amazonaws.com"},
                                            "Action": "lambda:InvokeFunction",
                                            "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                                                          "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads-111122223333"}}})}))
    # A user changes their own console password.
    ev.append(rec(t(450), "iam", "ChangePassword", user("bob", key=None), OFFICE_IP, None, None, agent=BROWSER))
    ev.sort(key=lambda r: r["eventTime"])
    return ev


def main():
    os.makedirs(OUT, exist_ok=True)
    normal = os.path.join(ROOT, "tests", "fixtures", "normal-work.json.gz")
    os.makedirs(os.path.dirname(normal), exist_ok=True)
    with gzip.GzipFile(normal, "wb", mtime=0) as f:
        f.write(json.dumps({"Records": normal_day()}).encode())
    N[0] = 0
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
