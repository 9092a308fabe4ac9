"""S3 requests as boto3/botocore make them, at a fixed time, for s3_storage_test.

Reads a JSON list of cases from argv[1] and writes, for each, what botocore gives to argv[2]:
  {"kind": "presign", "endpoint", "bucket", "key", "id", "secret", "region", "timestamp"}
    -> the URL boto3's generate_presigned_url("get_object", ExpiresIn=604800) returns, as
       RunPod's upload helper calls it (signature_version "s3v4");
  {"kind": "put", ... as above, "url", "content_type", "body_hex"}
    -> the Authorization header botocore's S3SigV4Auth gives a PUT of that body to `url` with
       Content-Type, the payload signed (as it is over plain HTTP).
"""

import datetime
import json
import sys
from unittest import mock

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def fixed_time(timestamp):
    when = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ")
    return mock.patch("botocore.auth.get_current_datetime", return_value=when)


def presign(case):
    client = boto3.client(
        "s3",
        endpoint_url=case["endpoint"],
        aws_access_key_id=case["id"],
        aws_secret_access_key=case["secret"],
        region_name=case["region"],
        config=Config(signature_version="s3v4"),
    )
    with fixed_time(case["timestamp"]):
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": case["bucket"], "Key": case["key"]}, ExpiresIn=604800
        )


def put_authorization(case):
    request = AWSRequest(
        "PUT", case["url"], data=bytes.fromhex(case["body_hex"]), headers={"Content-Type": case["content_type"]}
    )
    request.context["payload_signing_enabled"] = True
    with fixed_time(case["timestamp"]):
        S3SigV4Auth(Credentials(case["id"], case["secret"]), "s3", case["region"]).add_auth(request)
    return request.headers["Authorization"]


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = [presign(c) if c["kind"] == "presign" else put_authorization(c) for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
