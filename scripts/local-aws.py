"""Create, on a local moto server, the resources infra/template.yaml creates in AWS, and print
the environment the functions read. For running the Lambda functions with `cargo lambda watch`.

Usage: .venv-test/bin/python scripts/local-aws.py http://127.0.0.1:5000 > .env.local-aws
"""
import json
import secrets
import sys

import boto3


def main() -> None:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    ddb, sqs = boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
    s3, sm = boto3.client("s3", **kw), boto3.client("secretsmanager", **kw)

    table = "complaint-desk"
    attrs = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
    gsi = lambda n: {"IndexName": n, "Projection": {"ProjectionType": "ALL"},
                     "KeySchema": [{"AttributeName": f"{n}pk", "KeyType": "HASH"},
                                   {"AttributeName": f"{n}sk", "KeyType": "RANGE"}]}
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[gsi("gsi1"), gsi("gsi2")])
    env = {"TABLE_NAME": table}
    for q in ("events", "notify"):
        dlq = sqs.create_queue(QueueName=f"complaint-desk-{q}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=f"complaint-desk-{q}", Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"})})["QueueUrl"]
        env[f"{q.upper()}_QUEUE_URL"], env[f"{q.upper()}_DLQ_URL"] = url, dlq
    s3.create_bucket(Bucket="complaint-desk-blobs")
    env["BLOB_BUCKET"] = "complaint-desk-blobs"
    env["SECRET_PREFIX"] = "complaint-desk/"
    admin = secrets.token_urlsafe(32)
    sm.create_secret(Name="complaint-desk/installation/admin-token", SecretString=admin)
    sm.create_secret(Name="complaint-desk/installation/fingerprint-key", SecretString=secrets.token_urlsafe(48))
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    for k, v in env.items():
        print(f"export {k}={v}")
    print(f"# administrator token: {admin}", file=sys.stderr)


if __name__ == "__main__":
    main()
