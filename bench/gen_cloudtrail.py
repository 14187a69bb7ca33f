#!/usr/bin/env python3
"""Synthetic but realistic CloudTrail log-file generator.

(The team's benchmark generator, kept here unchanged in behaviour so that tests/skip.rs
and `make bench` need nothing outside the repository.)

Writes one CloudTrail-style log file: {"Records":[{event},{event},...]} in
compact JSON (no whitespace, exactly like the files CloudTrail delivers to S3)
and a gzip (level 6) copy of it.

Usage:
    python3 gen_cloudtrail.py --target-mb 100 --out ct100
    python3 gen_cloudtrail.py --events 5000 --out small

Produces <out>.json and <out>.json.gz.  Deterministic for a given --seed.

Event mix (weights below) covers: ConsoleLogin successes and failures
(IAMUser, Root, AssumedRole/SAML federation, userName
HIDDEN_DUE_TO_SECURITY_REASONS), AssumeRole / AssumeRoleWithSAML /
AssumeRoleWithWebIdentity with nested requestParameters, responseElements and
resources, S3 data events (GetObject/PutObject/ListObjects) and
PutBucketPolicy with a large policy string, EC2 RunInstances (large nested
request/response), Describe* calls with filter sets, IAM changes, KMS service
events (AWSService identity, sharedEventID), CloudTrail StopLogging, errors
(AccessDenied / UnauthorizedOperation with errorMessage), sessionContext with
sessionIssuer and webIdFederationData, tlsDetails, additionalEventData.
"""
import argparse
import base64
import datetime as dt
import gzip
import json
import random
import string
import uuid

ACCOUNTS = ["123456789012", "210987654321", "555566667777", "999988887777"]
REGIONS = ["us-east-1", "us-east-1", "us-east-1", "us-west-2", "eu-west-1",
           "eu-central-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
         "ivan", "judy", "mallory", "oscar", "peggy", "trent", "victor",
         "walter", "ci-deployer", "terraform", "backup-svc", "j\u00f6rg.m\u00fcller"]
ROLES = ["OrganizationAccountAccessRole", "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
         "AWSReservedSSO_ReadOnly_fedcba9876543210", "lambda-exec-role",
         "eks-node-group-role", "github-actions-deploy", "DataPipelineRole",
         "SecurityAudit", "ecsTaskExecutionRole"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.amzn.2023 prompt/off command/s3.cp",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.6",
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.213 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.45.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.213 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "console.amazonaws.com",
    "AWS Internal",
]
SERVICES = ["ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com",
            "cloudtrail.amazonaws.com", "config.amazonaws.com", "elasticloadbalancing.amazonaws.com",
            "autoscaling.amazonaws.com", "guardduty.amazonaws.com"]
CIPHERS = ["TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t0 = dt.datetime(2024, 5, 14, 10, 0, 0)

    # ---------- primitive helpers ----------
    def ip(self):
        r = self.r
        if r.random() < 0.15:
            return r.choice(SERVICES)
        if r.random() < 0.05:
            return "2600:1f18:%x:%x::%x" % (r.randrange(65536), r.randrange(65536), r.randrange(65536))
        return "%d.%d.%d.%d" % (r.choice([3, 18, 34, 52, 54, 81, 92, 185, 203]), r.randrange(256),
                                r.randrange(256), r.randrange(1, 255))

    def akid(self, temp=True):
        return ("ASIA" if temp else "AKIA") + "".join(self.r.choices(string.ascii_uppercase + string.digits, k=16))

    def hexs(self, n):
        return "".join(self.r.choices("0123456789abcdef", k=n))

    def uid(self):
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def time(self, i):
        t = self.t0 + dt.timedelta(milliseconds=i * 37 + self.r.randrange(1000))
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def _stable_id(prefix, name):
        # IAM unique ids are fixed per principal in real logs, so derive them from the name
        rr = random.Random(prefix + name)
        return prefix + "".join(rr.choices(string.ascii_uppercase + string.digits, k=17))

    def principal_id(self, name=None):
        return self._stable_id("AIDA", name if name is not None else str(self.r.randrange(50)))

    def role_id(self, name=None):
        return self._stable_id("AROA", name if name is not None else str(self.r.randrange(50)))

    def session_token(self):
        raw = bytes(self.r.getrandbits(8) for _ in range(self.r.randrange(280, 420)))
        return "IQoJb3JpZ2luX2VjE" + base64.b64encode(raw).decode()

    def tls(self, host):
        return {"tlsVersion": self.r.choice(["TLSv1.2", "TLSv1.3", "TLSv1.3"]),
                "cipherSuite": self.r.choice(CIPHERS),
                "clientProvidedHostHeader": host}

    # ---------- identities ----------
    def ident(self, acct, kind=None):
        r = self.r
        kind = kind or r.choices(["IAMUser", "AssumedRole", "Root", "AWSService", "AWSAccount",
                                  "SAMLUser", "WebIdentityUser"],
                                 weights=[25, 50, 3, 12, 4, 3, 3])[0]
        created = (self.t0 - dt.timedelta(minutes=r.randrange(1, 600))).strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind == "IAMUser":
            u = r.choice(USERS)
            d = {"type": "IAMUser", "principalId": self.principal_id(acct + u),
                 "arn": f"arn:aws:iam::{acct}:user/{u}", "accountId": acct,
                 "accessKeyId": self.akid(temp=r.random() < 0.3), "userName": u}
            if d["accessKeyId"].startswith("ASIA"):
                d["sessionContext"] = {"attributes": {"creationDate": created,
                                                      "mfaAuthenticated": r.choice(["true", "false"])}}
            return d
        if kind == "AssumedRole":
            role = r.choice(ROLES)
            rid = self.role_id(acct + role)
            sess = r.choice(USERS + ["i-0" + self.hexs(16), "botocore-session-%d" % r.randrange(10**10),
                                     "aws-go-sdk-%d" % r.randrange(10**12)])
            d = {"type": "AssumedRole", "principalId": f"{rid}:{sess}",
                 "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{sess}", "accountId": acct,
                 "accessKeyId": self.akid(),
                 "sessionContext": {
                     "sessionIssuer": {"type": "Role", "principalId": rid,
                                       "arn": f"arn:aws:iam::{acct}:role/{role}",
                                       "accountId": acct, "userName": role},
                     "webIdFederationData": {},
                     "attributes": {"creationDate": created,
                                    "mfaAuthenticated": r.choice(["false", "false", "true"])}}}
            if r.random() < 0.2:
                d["sessionContext"]["sourceIdentity"] = r.choice(USERS)
            if r.random() < 0.1:
                d["invokedBy"] = r.choice(SERVICES)
            return d
        if kind == "Root":
            return {"type": "Root", "principalId": acct, "arn": f"arn:aws:iam::{acct}:root",
                    "accountId": acct, "accessKeyId": self.akid() if r.random() < 0.5 else "",
                    "sessionContext": {"sessionIssuer": {}, "webIdFederationData": {},
                                       "attributes": {"creationDate": created, "mfaAuthenticated": "true"}}}
        if kind == "AWSService":
            return {"type": "AWSService", "invokedBy": r.choice(SERVICES)}
        if kind == "AWSAccount":
            other = r.choice([a for a in ACCOUNTS if a != acct])
            return {"type": "AWSAccount", "principalId": self.role_id() + ":" + r.choice(USERS),
                    "accountId": other, "invokedBy": r.choice(SERVICES) if r.random() < 0.3 else None}
        if kind == "SAMLUser":
            u = r.choice(USERS)
            return {"type": "SAMLUser", "principalId": f"SAMLAbCdEf0123456789=:{u}@example.com",
                    "userName": f"{u}@example.com",
                    "identityProvider": "arn:aws:iam::%s:saml-provider/Okta" % acct}
        # WebIdentityUser
        sub = self.uid()
        return {"type": "WebIdentityUser",
                "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:" + sub,
                "userName": "repo:example-org/infra:ref:refs/heads/main",
                "identityProvider": "token.actions.githubusercontent.com"}

    def base(self, i, acct, ident, source, name, etype="AwsApiCall", read_only=None, ver=None):
        r = self.r
        ev = {
            "eventVersion": ver or r.choice(["1.08", "1.09", "1.09", "1.10"]),
            "userIdentity": ident,
            "eventTime": self.time(i),
            "eventSource": source,
            "eventName": name,
            "awsRegion": r.choice(REGIONS),
            "sourceIPAddress": ident.get("invokedBy") or self.ip(),
            "userAgent": ident.get("invokedBy") or r.choice(AGENTS),
        }
        return ev

    def tail(self, ev, acct, read_only, category="Management", etype="AwsApiCall", host=None,
             resources=None, shared=False):
        r = self.r
        if etype != "AwsServiceEvent":
            ev["requestID"] = self.uid() if r.random() < 0.7 else self.hexs(16).upper()
        ev["eventID"] = self.uid()
        ev["readOnly"] = read_only
        if resources is not None:
            ev["resources"] = resources
        ev["eventType"] = etype
        if category == "Management":
            ev["managementEvent"] = True
        else:
            ev["managementEvent"] = False
        ev["recipientAccountId"] = acct
        if shared:
            ev["sharedEventID"] = self.uid()
        if r.random() < 0.08:
            ev["vpcEndpointId"] = "vpce-0" + self.hexs(16)
            ev["vpcEndpointAccountId"] = acct
        ev["eventCategory"] = category
        if host and etype == "AwsApiCall":
            ev["tlsDetails"] = self.tls(host)
        if r.random() < 0.1 and ev["userAgent"] not in SERVICES:
            ev["sessionCredentialFromConsole"] = "true"
        return ev

    def maybe_error(self, ev, p=0.07, code=None, msg=None):
        if self.r.random() < p:
            ev["errorCode"] = code or self.r.choice(["AccessDenied", "Client.UnauthorizedOperation",
                                                     "ThrottlingException", "NoSuchEntity",
                                                     "InvalidParameterValue"])
            ev["errorMessage"] = msg or ("User: %s is not authorized to perform: %s:%s on resource: %s because no "
                                         "identity-based policy allows the %s:%s action" % (
                                             ev["userIdentity"].get("arn", "anonymous"),
                                             ev["eventSource"].split(".")[0], ev["eventName"],
                                             "arn:aws:%s:::*" % ev["eventSource"].split(".")[0],
                                             ev["eventSource"].split(".")[0], ev["eventName"]))
            return True
        return False

    # ---------- event kinds ----------
    def console_login(self, i, acct):
        r = self.r
        kind = r.choices(["IAMUser", "Root", "AssumedRole", "SAMLUser"], weights=[55, 10, 30, 5])[0]
        ident = self.ident(acct, kind)
        ident.pop("accessKeyId", None)
        if kind == "AssumedRole":
            ident["accessKeyId"] = self.akid()
        ev = self.base(i, acct, ident, "signin.amazonaws.com", "ConsoleLogin", ver="1.09")
        ev["awsRegion"] = "us-east-1"
        ev["userAgent"] = r.choice(AGENTS[:2])
        fail = r.random() < 0.25 and kind in ("IAMUser", "Root")
        ev["requestParameters"] = None
        if fail:
            ev["errorMessage"] = "Failed authentication"
            if r.random() < 0.5 and kind == "IAMUser":
                # unknown user name -> CloudTrail hides the typed name
                ev["userIdentity"] = {"type": "IAMUser", "accountId": acct, "accessKeyId": "",
                                      "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
            ev["responseElements"] = {"ConsoleLogin": "Failure"}
        else:
            ev["responseElements"] = {"ConsoleLogin": "Success"}
        mfa = "Yes" if (kind == "Root" or r.random() < 0.6) else "No"
        ev["additionalEventData"] = {
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_" + self.hexs(16),
            "MobileVersion": "No", "MFAUsed": mfa}
        if kind == "Root" or (kind == "IAMUser" and mfa == "Yes"):
            ev["additionalEventData"]["MfaType"] = r.choice(["U2F MFA", "Virtual MFA"])
        if kind == "SAMLUser" or kind == "AssumedRole":
            ev["additionalEventData"]["SamlProviderArn"] = "arn:aws:iam::%s:saml-provider/Okta" % acct
        ev = self.tail(ev, acct, False, etype="AwsConsoleSignIn")
        ev.pop("requestID", None)
        return ev

    def assume_role(self, i, acct):
        r = self.r
        variant = r.choices(["AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"],
                            weights=[80, 10, 10])[0]
        if variant == "AssumeRole":
            ident = self.ident(acct, r.choice(["AWSService", "AWSService", "AssumedRole", "IAMUser", "AWSAccount"]))
        elif variant == "AssumeRoleWithSAML":
            ident = self.ident(acct, "SAMLUser")
        else:
            ident = self.ident(acct, "WebIdentityUser")
        ev = self.base(i, acct, ident, "sts.amazonaws.com", variant)
        role = r.choice(ROLES)
        role_arn = f"arn:aws:iam::{acct}:role/{role}"
        sess = r.choice(USERS + ["i-0" + self.hexs(16), "%d" % r.randrange(10**13),
                                 "GitHubActions-" + self.hexs(12)])
        rp = {"roleArn": role_arn, "roleSessionName": sess,
              "durationSeconds": r.choice([900, 3600, 3600, 43200])}
        if variant == "AssumeRoleWithSAML":
            rp = {"sAMLAssertionID": "_" + self.hexs(32), "roleSessionName": sess + "@example.com",
                  "principalArn": "arn:aws:iam::%s:saml-provider/Okta" % acct, "roleArn": role_arn,
                  "durationSeconds": 3600}
        elif variant == "AssumeRoleWithWebIdentity":
            rp["providerId"] = None
        if r.random() < 0.3:
            rp["tags"] = [{"key": k, "value": v} for k, v in
                          [("Project", r.choice(["atlas", "zeus", "hermes"])),
                           ("CostCenter", str(r.randrange(1000, 9999))),
                           ("Email", r.choice(USERS) + "@example.com")][: r.randrange(1, 4)]]
            rp["transitiveTagKeys"] = ["Project"]
        if r.random() < 0.15:
            rp["externalId"] = self.uid()
        if r.random() < 0.1:
            rp["policyArns"] = [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
        ev["requestParameters"] = rp
        rid = self.role_id(acct + role)
        resp = {
            "credentials": {"accessKeyId": self.akid(), "sessionToken": self.session_token(),
                            "expiration": "May 14, 2024, 11:%02d:%02d AM" % (r.randrange(60), r.randrange(60))},
            "assumedRoleUser": {"assumedRoleId": f"{rid}:{sess}",
                                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{sess}"},
        }
        if "tags" in rp:
            resp["packedPolicySize"] = r.randrange(2, 20)
        if variant == "AssumeRoleWithSAML":
            resp.update({"subjectType": "persistent", "issuer": "http://www.okta.com/exk" + self.hexs(12),
                         "audience": "https://signin.aws.amazon.com/saml",
                         "nameQualifier": base64.b64encode(bytes(r.getrandbits(8) for _ in range(20))).decode(),
                         "subject": r.choice(USERS) + "@example.com"})
        if variant == "AssumeRoleWithWebIdentity":
            resp.update({"subjectFromWebIdentityToken": "repo:example-org/infra:ref:refs/heads/main",
                         "audience": "sts.amazonaws.com", "provider": "arn:aws:iam::%s:oidc-provider/token.actions.githubusercontent.com" % acct})
        err = self.maybe_error(ev, 0.03, "AccessDenied")
        ev["responseElements"] = None if err else resp
        if r.random() < 0.3:
            ev["additionalEventData"] = {"ExtendedRequestId": base64.b64encode(bytes(r.getrandbits(8) for _ in range(48))).decode()}
        res = [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role_arn}]
        if variant == "AssumeRoleWithSAML":
            res.append({"accountId": acct, "type": "AWS::IAM::SAMLProvider",
                        "ARN": "arn:aws:iam::%s:saml-provider/Okta" % acct})
        return self.tail(ev, acct, True, host="sts.%s.amazonaws.com" % ev["awsRegion"], resources=res,
                         shared=ident["type"] in ("AWSService", "AWSAccount"))

    def s3_data(self, i, acct):
        r = self.r
        name = r.choices(["GetObject", "PutObject", "HeadObject", "ListObjects", "DeleteObject"],
                         weights=[45, 25, 15, 10, 5])[0]
        ident = self.ident(acct, r.choice(["AssumedRole", "AssumedRole", "IAMUser", "AWSService"]))
        ev = self.base(i, acct, ident, "s3.amazonaws.com", name)
        bucket = r.choice(["prod-data-lake-%s" % acct, "cloudtrail-logs-%s" % acct, "tfstate-%s" % acct,
                           "web-assets-prod", "ml-training-datasets"])
        key = "/".join(["".join(r.choices(string.ascii_lowercase, k=r.randrange(3, 12)))
                        for _ in range(r.randrange(2, 6))]) + r.choice([".parquet", ".json.gz", ".csv", ".png", ""])
        host = f"{bucket}.s3.{ev['awsRegion']}.amazonaws.com"
        rp = {"bucketName": bucket, "Host": host, "key": key}
        if name == "ListObjects":
            rp = {"bucketName": bucket, "Host": host, "list-type": "2", "prefix": key.rsplit("/", 1)[0] + "/",
                  "delimiter": "/", "encoding-type": "url", "max-keys": "1000"}
        if name == "PutObject" and r.random() < 0.5:
            rp["x-amz-server-side-encryption"] = "aws:kms"
            rp["x-amz-server-side-encryption-aws-kms-key-id"] = f"arn:aws:kms:{ev['awsRegion']}:{acct}:key/{self.uid()}"
        ev["requestParameters"] = rp
        ev["responseElements"] = None if name != "PutObject" else {
            "x-amz-server-side-encryption": "aws:kms" if "x-amz-server-side-encryption" in rp else "AES256",
            "x-amz-version-id": self.hexs(32)}
        ev["additionalEventData"] = {
            "SignatureVersion": "SigV4", "CipherSuite": r.choice(CIPHERS),
            "bytesTransferredIn": r.randrange(0, 10**7) if name == "PutObject" else 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": base64.b64encode(bytes(r.getrandbits(8) for _ in range(56))).decode(),
            "bytesTransferredOut": r.randrange(0, 10**7) if name == "GetObject" else 0}
        self.maybe_error(ev, 0.05, "AccessDenied", "Access Denied")
        res = [{"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
        if name != "ListObjects":
            res.insert(0, {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
        return self.tail(ev, acct, name in ("GetObject", "HeadObject", "ListObjects"), category="Data",
                         host=host, resources=res)

    def s3_policy(self, i, acct):
        r = self.r
        ident = self.ident(acct, r.choice(["AssumedRole", "IAMUser", "Root"]))
        ev = self.base(i, acct, ident, "s3.amazonaws.com", r.choice(["PutBucketPolicy", "PutBucketAcl", "PutBucketPublicAccessBlock"]))
        bucket = r.choice(["prod-data-lake-%s" % acct, "web-assets-prod", "ml-training-datasets"])
        stmts = []
        for k in range(r.randrange(2, 7)):
            stmts.append({"Sid": "Stmt%d" % (k + 1), "Effect": r.choice(["Allow", "Deny"]),
                          "Principal": r.choice(["*", {"AWS": [f"arn:aws:iam::{a}:root" for a in ACCOUNTS[:r.randrange(1, 4)]]}]),
                          "Action": r.sample(["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject",
                                              "s3:GetBucketLocation", "s3:*"], r.randrange(1, 4)),
                          "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                          "Condition": {"Bool": {"aws:SecureTransport": "false"}} if r.random() < 0.4 else
                          {"StringEquals": {"aws:PrincipalOrgID": "o-" + self.hexs(10)}}})
        host = f"{bucket}.s3.amazonaws.com"
        if ev["eventName"] == "PutBucketPolicy":
            ev["requestParameters"] = {"bucketName": bucket, "Host": host, "policy": "",
                                       "bucketPolicy": {"Version": "2012-10-17", "Statement": stmts}}
        elif ev["eventName"] == "PutBucketAcl":
            ev["requestParameters"] = {"bucketName": bucket, "Host": host, "acl": "",
                                       "AccessControlPolicy": {"AccessControlList": {"Grant": [
                                           {"Grantee": {"xsi:type": "CanonicalUser", "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "ID": self.hexs(64)}, "Permission": "FULL_CONTROL"},
                                           {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]},
                                           "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "Owner": {"ID": self.hexs(64)}}}
        else:
            ev["requestParameters"] = {"bucketName": bucket, "Host": host, "publicAccessBlock": "",
                                       "PublicAccessBlockConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                                                          "RestrictPublicBuckets": r.random() < 0.5, "BlockPublicPolicy": r.random() < 0.5,
                                                                          "BlockPublicAcls": True, "IgnorePublicAcls": True}}
        ev["responseElements"] = None
        ev["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": r.choice(CIPHERS),
                                     "bytesTransferredIn": r.randrange(200, 3000), "AuthenticationMethod": "AuthHeader",
                                     "x-amz-id-2": base64.b64encode(bytes(r.getrandbits(8) for _ in range(56))).decode(),
                                     "bytesTransferredOut": 0}
        self.maybe_error(ev, 0.05, "AccessDenied", "Access Denied")
        return self.tail(ev, acct, False, host=host,
                         resources=[{"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}])

    def ec2_run(self, i, acct):
        r = self.r
        ident = self.ident(acct, r.choice(["AssumedRole", "AssumedRole", "IAMUser"]))
        ev = self.base(i, acct, ident, "ec2.amazonaws.com", "RunInstances")
        n = r.choice([1, 1, 1, 2, 3])
        ami = "ami-0" + self.hexs(16)
        subnet = "subnet-0" + self.hexs(16)
        sg = "sg-0" + self.hexs(16)
        itype = r.choice(["t3.micro", "m6i.large", "c7g.xlarge", "p4d.24xlarge", "r6i.2xlarge"])
        ev["requestParameters"] = {
            "instancesSet": {"items": [{"imageId": ami, "minCount": n, "maxCount": n}]},
            "userData": "<sensitiveDataRemoved>",
            "instanceType": itype,
            "blockDeviceMapping": {"items": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": r.choice([8, 20, 100]), "deleteOnTermination": True, "volumeType": "gp3", "encrypted": True}}]},
            "tenancy": "default",
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
            "disableApiStop": False,
            "clientToken": self.uid(),
            "networkInterfaceSet": {"items": [{"deviceIndex": 0, "subnetId": subnet, "associatePublicIpAddress": r.random() < 0.3,
                                               "groupSet": {"items": [{"groupId": sg}]}}]},
            "iamInstanceProfile": {"arn": f"arn:aws:iam::{acct}:instance-profile/eks-node-group-role"},
            "ebsOptimized": True,
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [
                {"key": "Name", "value": "worker-" + self.hexs(6)}, {"key": "kubernetes.io/cluster/prod", "value": "owned"},
                {"key": "aws:autoscaling:groupName", "value": "eks-ng-" + self.uid()}]}]},
            "metadataOptions": {"httpTokens": r.choice(["required", "optional"]), "httpPutResponseHopLimit": 2},
        }
        items = []
        for k in range(n):
            iid = "i-0" + self.hexs(16)
            eni = "eni-0" + self.hexs(16)
            pip = "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(256))
            items.append({
                "instanceId": iid, "imageId": ami, "currentInstanceBootMode": "legacy-bios",
                "instanceState": {"code": 0, "name": "pending"},
                "privateDnsName": "ip-%s.ec2.internal" % pip.replace(".", "-"),
                "amiLaunchIndex": k, "productCodes": {}, "instanceType": itype,
                "launchTime": 1715680800000 + r.randrange(10**6),
                "placement": {"availabilityZone": ev["awsRegion"] + r.choice("abc"), "tenancy": "default"},
                "monitoring": {"state": "disabled"}, "subnetId": subnet, "vpcId": "vpc-0" + self.hexs(16),
                "privateIpAddress": pip, "stateReason": {"code": "pending", "message": "pending"},
                "architecture": "x86_64" if not itype.startswith("c7g") else "arm64",
                "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {},
                "virtualizationType": "hvm", "clientToken": ev["requestParameters"]["clientToken"],
                "tagSet": {"items": ev["requestParameters"]["tagSpecificationSet"]["items"][0]["tags"]},
                "groupSet": {"items": [{"groupId": sg, "groupName": "eks-cluster-sg-prod"}]},
                "sourceDestCheck": True, "hypervisor": "xen",
                "networkInterfaceSet": {"items": [{"networkInterfaceId": eni, "subnetId": subnet, "vpcId": "vpc-0" + self.hexs(16),
                                                   "ownerId": acct, "status": "in-use", "macAddress": ":".join(self.hexs(2) for _ in range(6)),
                                                   "privateIpAddress": pip, "privateDnsName": "ip-%s.ec2.internal" % pip.replace(".", "-"),
                                                   "sourceDestCheck": True, "interfaceType": "interface",
                                                   "groupSet": {"items": [{"groupId": sg, "groupName": "eks-cluster-sg-prod"}]},
                                                   "attachment": {"attachmentId": "eni-attach-0" + self.hexs(16), "deviceIndex": 0, "networkCardIndex": 0,
                                                                  "status": "attaching", "attachTime": 1715680800000, "deleteOnTermination": True},
                                                   "privateIpAddressesSet": {"item": [{"privateIpAddress": pip, "privateDnsName": "ip-%s.ec2.internal" % pip.replace(".", "-"), "primary": True}]},
                                                   "ipv6AddressesSet": {}, "tagSet": {}}]},
                "iamInstanceProfile": {"arn": f"arn:aws:iam::{acct}:instance-profile/eks-node-group-role", "id": "AIPA" + self.hexs(17).upper()},
                "ebsOptimized": True, "enaSupport": True,
                "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                "enclaveOptions": {"enabled": False},
                "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled", "httpProtocolIpv6": "disabled", "instanceMetadataTags": "disabled"},
                "maintenanceOptions": {"autoRecovery": "default"},
                "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": False, "enableResourceNameDnsAAAARecord": False}})
        err = self.maybe_error(ev, 0.06, "Client.UnauthorizedOperation",
                               "You are not authorized to perform this operation. Encoded authorization failure message: " + self.hexs(400))
        ev["responseElements"] = None if err else {
            "requestId": self.uid(), "reservationId": "r-0" + self.hexs(16), "ownerId": acct,
            "groupSet": {}, "instancesSet": {"items": items}, "requesterId": "940372691376"}
        return self.tail(ev, acct, False, host="ec2.%s.amazonaws.com" % ev["awsRegion"])

    def describe(self, i, acct):
        r = self.r
        svc, name = r.choice([("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "DescribeSecurityGroups"),
                              ("ec2.amazonaws.com", "DescribeVolumes"), ("iam.amazonaws.com", "ListRoles"),
                              ("iam.amazonaws.com", "GetUser"), ("lambda.amazonaws.com", "ListFunctions20150331"),
                              ("cloudtrail.amazonaws.com", "DescribeTrails"), ("sts.amazonaws.com", "GetCallerIdentity"),
                              ("logs.amazonaws.com", "DescribeLogGroups"), ("ssm.amazonaws.com", "GetParameter"),
                              ("secretsmanager.amazonaws.com", "GetSecretValue"), ("ecr.amazonaws.com", "GetAuthorizationToken")])
        ident = self.ident(acct)
        ev = self.base(i, acct, ident, svc, name)
        if name.startswith("Describe") and svc.startswith("ec2"):
            ev["requestParameters"] = {"maxResults": 1000, "filterSet": {"items": [
                {"name": r.choice(["instance-state-name", "tag:Name", "vpc-id", "group-id"]),
                 "valueSet": {"items": [{"value": self.hexs(8)} for _ in range(r.randrange(1, 5))]}}
                for _ in range(r.randrange(0, 4))]}}
            if name == "DescribeInstances":
                ev["requestParameters"]["instancesSet"] = {"items": [{"instanceId": "i-0" + self.hexs(16)} for _ in range(r.randrange(0, 12))]}
        elif name == "GetParameter":
            ev["requestParameters"] = {"name": "/prod/app/" + r.choice(["db_password", "api_key", "feature_flags"]), "withDecryption": True}
        elif name == "GetSecretValue":
            ev["requestParameters"] = {"secretId": f"arn:aws:secretsmanager:us-east-1:{acct}:secret:prod/db-" + self.hexs(6)}
        elif name == "GetUser":
            ev["requestParameters"] = {"userName": r.choice(USERS)}
        else:
            ev["requestParameters"] = None if r.random() < 0.5 else {"maxItems": 100}
        ev["responseElements"] = None
        self.maybe_error(ev, 0.08)
        host = svc.split(".")[0] + ".%s.amazonaws.com" % ev["awsRegion"]
        return self.tail(ev, acct, True, host=host)

    def iam_change(self, i, acct):
        r = self.r
        name = r.choice(["CreateUser", "CreateAccessKey", "AttachUserPolicy", "PutUserPolicy", "AttachRolePolicy",
                         "CreateLoginProfile", "UpdateAssumeRolePolicy", "DeactivateMFADevice", "CreateRole",
                         "DeleteTrail", "StopLogging", "PutEventSelectors", "UpdateTrail", "AuthorizeSecurityGroupIngress",
                         "ModifySnapshotAttribute", "ScheduleKeyDeletion", "DisableKey", "DeleteFlowLogs"])
        svc = {"DeleteTrail": "cloudtrail", "StopLogging": "cloudtrail", "PutEventSelectors": "cloudtrail",
               "UpdateTrail": "cloudtrail", "AuthorizeSecurityGroupIngress": "ec2", "ModifySnapshotAttribute": "ec2",
               "DeleteFlowLogs": "ec2", "ScheduleKeyDeletion": "kms", "DisableKey": "kms"}.get(name, "iam") + ".amazonaws.com"
        ident = self.ident(acct, r.choice(["AssumedRole", "IAMUser", "Root", "IAMUser"]))
        ev = self.base(i, acct, ident, svc, name)
        u = r.choice(USERS)
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": r.sample(
            ["s3:*", "ec2:*", "iam:PassRole", "kms:Decrypt", "sts:AssumeRole", "*"], 3), "Resource": "*"}]})
        rp = {"userName": u}
        resp = None
        if name == "CreateUser":
            resp = {"user": {"path": "/", "userName": u, "userId": self.principal_id(acct + u),
                             "arn": f"arn:aws:iam::{acct}:user/{u}", "createDate": "May 14, 2024, 10:11:12 AM"}}
        elif name == "CreateAccessKey":
            resp = {"accessKey": {"userName": u, "accessKeyId": self.akid(False), "status": "Active",
                                  "createDate": "May 14, 2024, 10:11:12 AM"}}
        elif name in ("AttachUserPolicy", "AttachRolePolicy"):
            rp = {("userName" if "User" in name else "roleName"): u if "User" in name else r.choice(ROLES),
                  "policyArn": r.choice(["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess",
                                         f"arn:aws:iam::{acct}:policy/custom-{self.hexs(6)}"])}
        elif name == "PutUserPolicy":
            rp = {"userName": u, "policyName": "inline-" + self.hexs(6), "policyDocument": policy}
        elif name == "UpdateAssumeRolePolicy" or name == "CreateRole":
            trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{r.choice(ACCOUNTS)}:root"}, "Action": "sts:AssumeRole"}]})
            rp = {"roleName": r.choice(ROLES), "policyDocument" if name != "CreateRole" else "assumeRolePolicyDocument": trust}
            if name == "CreateRole":
                resp = {"role": {"path": "/", "roleName": rp["roleName"], "roleId": self.role_id(),
                                 "arn": f"arn:aws:iam::{acct}:role/{rp['roleName']}", "createDate": "May 14, 2024, 10:11:12 AM",
                                 "assumeRolePolicyDocument": trust.replace('"', "%22")}}
        elif name == "CreateLoginProfile":
            rp = {"userName": u, "passwordResetRequired": True}
        elif name == "DeactivateMFADevice":
            rp = {"userName": u, "serialNumber": f"arn:aws:iam::{acct}:mfa/{u}"}
        elif svc.startswith("cloudtrail"):
            rp = {"name": f"arn:aws:cloudtrail:us-east-1:{acct}:trail/org-trail"}
            if name == "PutEventSelectors":
                rp["eventSelectors"] = [{"readWriteType": "WriteOnly", "includeManagementEvents": True, "dataResources": []}]
        elif name == "AuthorizeSecurityGroupIngress":
            rp = {"groupId": "sg-0" + self.hexs(16), "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": p, "toPort": p, "groups": {},
                 "ipRanges": {"items": [{"cidrIp": r.choice(["0.0.0.0/0", "10.0.0.0/8"])}]},
                 "ipv6Ranges": {}, "prefixListIds": {}} for p in r.sample([22, 3389, 443, 5432, 6379], 2)]}}
            resp = {"requestId": self.uid(), "_return": True, "securityGroupRuleSet": {"items": [
                {"groupOwnerId": acct, "groupId": rp["groupId"], "securityGroupRuleId": "sgr-0" + self.hexs(16),
                 "isEgress": False, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}}
        elif name == "ModifySnapshotAttribute":
            rp = {"snapshotId": "snap-0" + self.hexs(16), "createVolumePermission": {"add": {"items": [{"userId": r.choice(ACCOUNTS)}]}},
                  "attributeType": "CREATE_VOLUME_PERMISSION"}
            resp = {"requestId": self.uid(), "_return": True}
        elif name == "DeleteFlowLogs":
            rp = {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-0" + self.hexs(16), "tag": 1}}}
        else:
            rp = {"keyId": f"arn:aws:kms:us-east-1:{acct}:key/{self.uid()}"}
            if name == "ScheduleKeyDeletion":
                rp["pendingWindowInDays"] = 7
                resp = {"keyId": rp["keyId"], "deletionDate": "May 21, 2024, 12:00:00 AM", "keyState": "PendingDeletion", "pendingWindowInDays": 7}
        ev["requestParameters"] = rp
        err = self.maybe_error(ev, 0.1)
        ev["responseElements"] = None if err else resp
        return self.tail(ev, acct, False, host=svc.split(".")[0] + ".amazonaws.com")

    def kms_service(self, i, acct):
        r = self.r
        ident = self.ident(acct, "AWSService")
        name = r.choice(["Decrypt", "GenerateDataKey", "Encrypt"])
        ev = self.base(i, acct, ident, "kms.amazonaws.com", name)
        key = f"arn:aws:kms:{ev['awsRegion']}:{acct}:key/{self.uid()}"
        ctx = {"aws:lambda:FunctionArn": f"arn:aws:lambda:{ev['awsRegion']}:{acct}:function:fn-" + self.hexs(8)} if r.random() < 0.5 else \
              {"aws:s3:arn": f"arn:aws:s3:::prod-data-lake-{acct}/" + self.hexs(20)}
        ev["requestParameters"] = {"encryptionContext": ctx, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if name == "GenerateDataKey":
            ev["requestParameters"].update({"keyId": key, "keySpec": "AES_256"})
        ev["responseElements"] = None
        return self.tail(ev, acct, True, resources=[{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key}],
                         shared=True)

    def service_event(self, i, acct):
        r = self.r
        ev = {"eventVersion": "1.08", "userIdentity": {"accountId": acct, "invokedBy": r.choice(SERVICES)},
              "eventTime": self.time(i), "eventSource": r.choice(["ssm.amazonaws.com", "config.amazonaws.com", "health.amazonaws.com"]),
              "eventName": r.choice(["CreateServiceLinkedRole", "RotateKey", "InstanceRefresh"]),
              "awsRegion": r.choice(REGIONS), "sourceIPAddress": r.choice(SERVICES), "userAgent": r.choice(SERVICES),
              "requestParameters": None, "responseElements": None,
              "serviceEventDetails": {"details": {"state": r.choice(["STARTED", "COMPLETED"]), "id": self.uid()}}}
        return self.tail(ev, acct, None, etype="AwsServiceEvent")

    KINDS = [("console_login", 6), ("assume_role", 18), ("s3_data", 26), ("s3_policy", 2), ("ec2_run", 4),
             ("describe", 30), ("iam_change", 5), ("kms_service", 7), ("service_event", 2)]

    def event(self, i):
        names, weights = zip(*self.KINDS)
        kind = self.r.choices(names, weights=weights)[0]
        acct = self.r.choice(ACCOUNTS)
        ev = getattr(self, kind)(i, acct)
        if ev.get("readOnly") is None:
            ev.pop("readOnly", None)
        return ev


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-mb", type=float, default=None, help="stop when uncompressed size reaches this many MB (10^6 bytes)")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True, help="output path prefix (.json and .json.gz appended)")
    a = ap.parse_args()
    if a.target_mb is None and a.events is None:
        a.target_mb = 100
    g = Gen(a.seed)
    parts = []
    size = len('{"Records":[]}')
    n = 0
    while True:
        if a.events is not None and n >= a.events:
            break
        if a.target_mb is not None and size >= a.target_mb * 1e6:
            break
        s = json.dumps(g.event(n), separators=(",", ":"), ensure_ascii=False)
        parts.append(s)
        size += len(s.encode()) + 1
        n += 1
    body = ('{"Records":[' + ",".join(parts) + "]}").encode()
    with open(a.out + ".json", "wb") as f:
        f.write(body)
    gz = gzip.compress(body, compresslevel=6, mtime=0)
    with open(a.out + ".json.gz", "wb") as f:
        f.write(gz)
    sizes = sorted(len(p.encode()) for p in parts)
    print(json.dumps({"events": n, "bytes": len(body), "gz_bytes": len(gz), "ratio": round(len(body) / len(gz), 2),
                      "mean_event_bytes": round(len(body) / n), "p50": sizes[n // 2], "p90": sizes[int(n * .9)],
                      "p99": sizes[int(n * .99)], "max": sizes[-1]}))


if __name__ == "__main__":
    main()
