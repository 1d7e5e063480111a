"""One HTTP/1.1 GET to the extension on loopback, over a plain socket.

Not http.client or urllib: those import ssl and the email package (tens of milliseconds of a
cold start), urllib follows redirects and honours HTTP_PROXY, and their timeouts bound each
socket operation rather than the call. Here the request goes to a loopback address only, is
never redirected or proxied, and the whole call ends by its deadline.
"""
import socket
import time

MAX_BODY = 1 << 20  # a secret is at most 64 KiB, 88 KiB once base64-encoded
_MAX_HEAD = 64 << 10


class Refused(Exception):
    """Nothing accepted the connection at any address: nothing reached a server, so a retry is safe."""


class Deadline(Exception):
    """The call's deadline passed."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(lower-case name, value)], in order
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return ""

    def header_lines(self, name):
        return [v for k, v in self.headers if k == name]


def connect(hosts, port, deadline):
    """A socket connected to the first host that accepts, and that host."""
    errors = []
    for host in hosts:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Deadline()
        try:
            return socket.create_connection((host, port), timeout=left), host
        except socket.timeout:
            raise Deadline() from None
        except OSError as e:  # refused, or no IPv6 loopback in this sandbox: try the next
            errors.append(e)
    if any(isinstance(e, ConnectionRefusedError) for e in errors):
        raise Refused() from errors[0]
    raise errors[0]


def get(sock, host, port, target, headers, deadline):
    """Send GET target on sock and read the whole answer by deadline. Closes sock."""
    try:
        h = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (target, h)
        for k, v in headers:
            req += "%s: %s\r\n" % (k, v)
        _settimeout(sock, deadline)
        sock.sendall((req + "\r\n").encode("latin-1"))
        return _read(sock, deadline)
    except socket.timeout:
        raise Deadline() from None
    finally:
        sock.close()


def _settimeout(sock, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise Deadline()
    sock.settimeout(left)


def _read(sock, deadline):
    buf = bytearray()
    head_end = -1
    while head_end < 0:
        if not _recv(sock, buf, deadline):
            raise ConnectionError("the connection closed before a complete answer")
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0 and len(buf) > _MAX_HEAD:
            raise ValueError("the answer's header is over %d bytes" % _MAX_HEAD)
    lines = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError("the answer does not start with an HTTP/1.x status line")
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    resp = Response(status, headers, b"")
    body = buf[head_end + 4:]
    te = resp.header("transfer-encoding").lower()
    if "chunked" in te:
        resp.body = _read_chunked(sock, body, deadline)
        return resp
    cl = resp.header("content-length")
    if cl:
        if not cl.isdigit() or int(cl) > MAX_BODY:
            raise ValueError("the answer's Content-Length %r is not a size up to %d bytes" % (cl[:20], MAX_BODY))
        n = int(cl)
        while len(body) < n:
            if not _recv(sock, body, deadline):
                raise ConnectionError("the connection closed %d bytes into a %d-byte answer" % (len(body), n))
        resp.body = bytes(body[:n])
        return resp
    if status in (204, 304) or 100 <= status < 200:
        return resp
    while _recv(sock, body, deadline):  # delimited by the close we asked for
        if len(body) > MAX_BODY:
            raise ValueError("the answer is over %d bytes" % MAX_BODY)
    resp.body = bytes(body)
    return resp


def _read_chunked(sock, buf, deadline):
    out = bytearray()
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        while eol < 0:
            if len(buf) - pos > 1024:
                raise ValueError("a chunk size line is over 1024 bytes")
            if not _recv(sock, buf, deadline):
                raise ConnectionError("the connection closed inside a chunked answer")
            eol = buf.find(b"\r\n", pos)
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ValueError("a chunk size is not hexadecimal") from None
        if size < 0 or len(out) + size > MAX_BODY:
            raise ValueError("the answer is over %d bytes" % MAX_BODY)
        pos = eol + 2
        if size == 0:
            return bytes(out)  # trailers, if any, are not needed
        while len(buf) < pos + size + 2:
            if not _recv(sock, buf, deadline):
                raise ConnectionError("the connection closed inside a chunk")
        out += buf[pos:pos + size]
        pos += size + 2


def _recv(sock, buf, deadline):
    _settimeout(sock, deadline)
    data = sock.recv(65536)
    if not data:
        return False
    buf += data
    return True
