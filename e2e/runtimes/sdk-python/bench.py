"""Warm get_secret_value latency, boto3: one client per endpoint, 10 warm-up calls, then N timed.
Prints {"endpoint": median_ms, ...} for each URL in argv[1:]."""
import json
import os
import statistics
import sys
import time

import boto3

n = int(os.environ["BENCH_N"])
out = {}
for url in sys.argv[1:]:
    c = boto3.client("secretsmanager", endpoint_url=url)
    for _ in range(10):
        c.get_secret_value(SecretId=os.environ["SECRET_NAME"])
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        c.get_secret_value(SecretId=os.environ["SECRET_NAME"])
        ts.append(time.perf_counter() - t)
    out[url] = statistics.median(ts) * 1e3
print(json.dumps(out))
