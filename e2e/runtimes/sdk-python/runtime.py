"""Lambda's Runtime API loop for a module-level handler(event, context) (app.handler), standard
library only. Errors are answered with their type and message (the handler's never hold a value)."""
import json
import os
import urllib.request

import app


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


def main():
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        with opener.open(api + "next") as resp:
            context = Context(resp.headers)
            event = json.loads(resp.read())
        try:
            body, path = app.handler(event, context), "/response"
        except Exception as e:
            body, path = {"errorType": type(e).__name__, "errorMessage": str(e)[:300]}, "/error"
        req = urllib.request.Request(api + context.aws_request_id + path, data=json.dumps(body).encode(), method="POST")
        opener.open(req).close()


main()
