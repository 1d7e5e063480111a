"""A Python function on Lambda's Runtime API that reads through the layer's client (import kinko,
no AWS SDK). It answers digests of what it read, never the values."""
import hashlib
import json
import os
import urllib.request  # the Runtime API's, not kinko's

import kinko


def digest(value):
    b = value.encode("utf-8")
    return {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}


def handler(event):
    return {
        "runtime": "python",
        "kinko_file": kinko.__file__,
        "secret_key": digest(kinko.get_secret(event["secret"], json_key=event["json_key"])),
        "plain": digest(kinko.get_secret(event["plain"], refresh=bool(event.get("refresh")))),
        "parameter": digest(kinko.get_parameter(event["parameter"])),
    }


def main():
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
    while True:
        with urllib.request.urlopen(api + "next") as resp:
            request_id = resp.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(resp.read())
        try:
            body, path = handler(event), "/response"
        except kinko.KinkoError as e:  # its message holds no value
            body = {"errorType": type(e).__name__, "errorMessage": str(e)[:300], "status": e.status, "code": e.code}
            path = "/error"
        req = urllib.request.Request(api + request_id + path, data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req).close()


main()
