"""The benchmark's Python functions on Lambda's Runtime API. BENCH_VARIANT picks what init and
the handler do with the secret BENCH_SECRET:

    empty   nothing (the floor)
    boto3   import boto3, make a client at init; GetSecretValue in every invoke
    kinko   import kinko at init; kinko.get_secret in every invoke
    global  import boto3 at init and read the secret once into a global; the handler returns it

The Runtime API is spoken with http.client, as Lambda's own Python runtime does, so what that
imports (ssl, email) is loaded before the variant's own imports, as on Lambda. An event
{"micro": N} times N reads in the function instead and answers nanoseconds per read.
"""
import http.client
import json
import os
import time

VARIANT = os.environ["BENCH_VARIANT"]
SECRET = os.environ.get("BENCH_SECRET", "")

if VARIANT == "boto3":
    import boto3

    _sm = boto3.client("secretsmanager")

    def read():
        return _sm.get_secret_value(SecretId=SECRET)["SecretString"]
elif VARIANT == "kinko":
    import kinko

    def read():
        return kinko.get_secret(SECRET)
elif VARIANT == "global":
    import boto3

    _VALUE = boto3.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]

    def read():
        return _VALUE
else:
    def read():
        return ""


def handler(event):
    n = int(event.get("micro", 0))
    if n:
        per = []
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(n):
                read()
            per.append((time.perf_counter_ns() - start) / n)
        return {"ok": True, "ns_per_read": sorted(per)[2]}
    return {"ok": True, "bytes": len(read())}


def main():
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
    conn = http.client.HTTPConnection(host, int(port))
    base = "/2018-06-01/runtime/invocation/"
    while True:
        conn.request("GET", base + "next")
        resp = conn.getresponse()
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        event = json.loads(resp.read())
        try:
            body, path = handler(event), "/response"
        except Exception as e:  # noqa: BLE001 - reported to the benchmark, which stops
            body, path = {"errorType": type(e).__name__, "errorMessage": str(e)[:300]}, "/error"
        conn.request("POST", base + request_id + path, body=json.dumps(body))
        conn.getresponse().read()


main()
