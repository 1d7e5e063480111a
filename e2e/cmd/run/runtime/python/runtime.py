"""make run's Python runtime: Lambda's Runtime API loop for a handler named `file.function`.

Standard library only, so it runs where PyPI (awslambdaric) cannot be reached. It does what
Lambda's managed Python runtime does for a handler, no more: imports the module from the
function's directory (LAMBDA_TASK_ROOT) and the layer's python/ directories, calls
handler(event, context) for each event, and reports a failed import or an exception the way
Lambda does (init/error, invocation error, the traceback in the log).
"""
import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
# The Runtime API is Lambda's own address: never through a proxy the function configured.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(path, body=None, headers=None):
    req = urllib.request.Request(API + path, data=body, headers=headers or {},
                                 method="GET" if body is None else "POST")
    return OPENER.open(req)  # no timeout: /invocation/next waits for the next event


def error_body(e):
    # The frames of this loop and of importlib are not the function's.
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if f.filename != __file__ and not f.filename.startswith("<frozen ") and "/importlib/" not in f.filename]
    return {
        "errorMessage": str(e),
        "errorType": type(e).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def log_error(body):
    # One line per problem, then the traceback, as Lambda's runtime writes it.
    print(f"[ERROR] {body['errorType']}: {body['errorMessage']}", file=sys.stderr)
    if body.get("stackTrace"):
        print("Traceback (most recent call last):\n" + "".join(body["stackTrace"]).rstrip(), file=sys.stderr)


def init_error(error_type, message, e=None):
    body = error_body(e) if e else {"errorMessage": message, "errorType": error_type, "stackTrace": []}
    body["errorMessage"], body["errorType"] = message, error_type
    log_error(body)
    call("/init/error", json.dumps(body).encode(), {"Lambda-Runtime-Function-Error-Type": error_type}).close()
    sys.exit(1)


def load_handler():
    name = os.environ.get("_HANDLER", "")
    module_path, _, function = name.rpartition(".")
    if not module_path or not function:
        init_error("Runtime.MalformedHandlerName", f"Bad handler '{name}': name it file.function (app.handler for app.py)")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # Where Lambda looks: the function's files first, then the layers' (/opt/python).
    for p in reversed([task_root, "/opt/python", f"/opt/python/lib/{version}/site-packages"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the function's init error
        init_error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}", e)
    handler = getattr(module, function, None)
    if not callable(handler):
        init_error("Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module_name}'")
    return handler


class Context:
    """The part of Lambda's context object functions use."""

    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    handler = load_handler()
    while True:
        with call("/invocation/next") as resp:
            headers = resp.headers
            request_id = headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(resp.read() or b"null")
        os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id") or ""
        try:
            body = json.dumps(handler(event, Context(headers))).encode()
            path, extra = "/response", {}
        except Exception as e:  # noqa: BLE001 - reported to Lambda as the invoke's error
            err = error_body(e)
            log_error(err)
            body, path = json.dumps(err).encode(), "/error"
            extra = {"Lambda-Runtime-Function-Error-Type": "Unhandled"}
        call(f"/invocation/{request_id}{path}", body, extra).close()


main()
