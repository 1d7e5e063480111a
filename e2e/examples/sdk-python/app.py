# The seed's Python handler, unchanged: boto3 reads the secret named by SECRET_NAME. Pointed at kinko
# by the function's configuration alone (AWS_ENDPOINT_URL_SECRETS_MANAGER=http://localhost:2773),
# its second read is answered from kinko's cache. It answers a digest of the key, never the key.
import hashlib
import json
import os

import boto3

secrets = boto3.client("secretsmanager")


def handler(event, context):
    secret = json.loads(secrets.get_secret_value(SecretId=os.environ["SECRET_NAME"])["SecretString"])
    key = secret[os.environ.get("SECRET_JSON_KEY", "OPENAI_API_KEY")]
    return {"runtime": "python", "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "key_chars": len(key)}
