"""Prepares a fresh moto server for the storage tests (tests/support/moto_s3.hpp).

Usage: moto_setup.py <endpoint> <bucket>...
Makes an IAM user allowed everything on S3, its access key and the buckets named, with boto3,
while moto does not check signatures yet; prints the key as {"id": ..., "secret": ...}.
"""

import json
import sys

import boto3


def main():
    endpoint, buckets = sys.argv[1], sys.argv[2:]
    # Any key will do until signatures are checked.
    setup = dict(
        endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup", region_name="us-east-1"
    )
    iam = boto3.client("iam", **setup)
    iam.create_user(UserName="worker")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="worker", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    s3 = boto3.client("s3", **setup)
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))


if __name__ == "__main__":
    main()
