"""A fake extension for the client's tests: answers what the test says, records every request."""
import http.server
import json
import socket
import threading
import urllib.parse


class Request:
    def __init__(self, path, query, headers):
        self.path = path
        self.query = query  # {name: [values]}
        self.headers = headers  # {lower-case name: value}

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None


class FakeKinko:
    """An HTTP server on a loopback address. answer(request) returns (status, headers, body)."""

    def __init__(self, answer, host="127.0.0.1", port=0):
        self.answer = answer
        self.requests = []
        self._lock = threading.Lock()
        fake = self
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(http.server.ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                req = Request(u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()})
                with fake._lock:
                    fake.requests.append(req)
                status, headers, body = fake.answer(req)
                if isinstance(body, str):
                    body = body.encode("utf-8")
                self.send_response(status)
                chunked = any(k.lower() == "transfer-encoding" for k, _ in headers)
                for k, v in headers:
                    self.send_header(k, v)
                if not chunked:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if chunked:
                    for i in range(0, len(body), 7):
                        part = body[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def count(self):
        with self._lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def secret_doc(name, value, version="v1", stages=("AWSCURRENT",)):
    return json.dumps({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:%s-AbCdEf" % name,
        "CreatedDate": "2026-12-01T12:00:00.000Z",
        "Name": name,
        "SecretBinary": None,
        "SecretString": value,
        "VersionId": version,
        "VersionStages": list(stages),
        "ResultMetadata": {},
    })


def parameter_doc(name, value):
    return json.dumps({"Parameter": {
        "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter" + name, "DataType": "text",
        "LastModifiedDate": "2026-12-01T12:00:00.000Z", "Name": name, "Selector": None, "SourceResult": None,
        "Type": "SecureString", "Value": value, "Version": 1}, "ResultMetadata": {}})


def json_answer(body, cache_status="kinko; fwd=miss; stored; ttl=300"):
    headers = [("Content-Type", "application/json")]
    if cache_status is not None:
        headers.append(("Cache-Status", cache_status))
    return 200, headers, body


class FakeClock:
    """(monotonic, wall) seconds that move only when told."""

    def __init__(self):
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def __call__(self):
        return self.mono, self.wall

    def advance(self, seconds):
        self.mono += seconds
        self.wall += seconds


def ipv6_loopback():
    """Whether this machine has [::1]."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False
