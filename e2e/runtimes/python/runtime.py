"""A Python function on Lambda's Runtime API, standard library only (no runtime interface client).

The handler reads a secret and a parameter through the extension on localhost:2773 the way
AWS's documentation shows it (urllib, the session token in X-Aws-Parameters-Secrets-Token), and
reports what it sees in its environment: digests of the named variables, never their values.
"""
import hashlib
import json
import os
import urllib.parse
import urllib.request

PORT = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")
HEADERS = {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN")}


def get_secret(secret_id):
    # As in AWS's "Use AWS Secrets Manager secrets in AWS Lambda functions" example.
    endpoint = f"http://localhost:{PORT}/secretsmanager/get?secretId={urllib.parse.quote(secret_id)}"
    req = urllib.request.Request(endpoint, headers=HEADERS)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["SecretString"]


def get_parameter(name):
    # As AWS's Parameter Store example builds it, trailing slash included.
    endpoint = f"http://localhost:{PORT}/systemsmanager/parameters/get/?name={urllib.parse.quote(name, safe='')}&withDecryption=true"
    req = urllib.request.Request(endpoint, headers=HEADERS)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["Parameter"]["Value"]


def digest(value):
    if value is None:
        return None
    b = value.encode("utf-8")
    return {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}


def handler(event):
    out = {
        "runtime": "python",
        "env": {name: digest(os.environ.get(name)) for name in event.get("env", [])},
        "references_left": sorted(k for k, v in os.environ.items() if v.startswith("kinko:")),
    }
    if event.get("secret"):
        out["http_secret"] = digest(get_secret(event["secret"]))
    if event.get("parameter"):
        out["http_parameter"] = digest(get_parameter(event["parameter"]))
    return out


def main():
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
    while True:
        with urllib.request.urlopen(api + "next") as resp:
            request_id = resp.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(resp.read())
        try:
            body, path = handler(event), "/response"
        except Exception as e:  # the message names what failed; it holds no value
            body, path = {"errorType": type(e).__name__, "errorMessage": str(e)[:300]}, "/error"
        req = urllib.request.Request(api + request_id + path, data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req).close()


main()
