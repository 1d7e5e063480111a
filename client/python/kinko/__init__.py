"""Read secrets and parameters through the kinko Lambda extension (or AWS's Parameters and
Secrets Lambda Extension, which shares its HTTP API) without importing an AWS SDK.

    import kinko
    api_key = kinko.get_secret("prod/openai", json_key="OPENAI_API_KEY")
    db_url = kinko.get_parameter("/prod/db-url")

The kinko layer puts this package at /opt/python/kinko. Standard library only, Python 3.9+.

An answer is kept in memory for at most half of the freshness kinko declared for it (its
Cache-Status ttl), counted from when the request was sent, so a rotated secret still arrives
within kinko's TTL; a stale or ttl-less answer (AWS's extension sends no ttl) is never kept;
refresh=True bypasses the memory and kinko's cache. Errors are KinkoError, with kinko's error
code (e.code) and HTTP status (e.status), never a secret value. The session token goes to the
extension's loopback address only: no redirect is followed, no proxy used.
"""
import binascii
import json
import os
import time

from . import _http
from ._memo import Memo

__all__ = [
    "Client",
    "KinkoError",
    "KinkoTimeoutError",
    "KinkoUnreachableError",
    "get_parameter",
    "get_parameter_value",
    "get_secret",
    "get_secret_value",
]

DEFAULT_PORT = 2773
DEFAULT_TIMEOUT = 5.0  # seconds, for a whole call, retries included
DEFAULT_CACHE_SIZE = 64
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
# IPv4 first, then IPv6: never "localhost", which may resolve to either first.
DEFAULT_HOSTS = ("127.0.0.1", "::1")

_ATTEMPTS = 5  # connections refused: the extension may still be binding its port
_FIRST_DELAY = 0.01
_MAX_DELAY = 0.2
_MAX_MESSAGE = 300


class KinkoError(Exception):
    """A failed read. status is the HTTP status of kinko's answer (None when there was no
    answer), code kinko's error code ("ResourceNotFoundException", "AccessDeniedException",
    ...; None when it gave none). The message never holds a secret value."""

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class KinkoUnreachableError(KinkoError, ConnectionError):
    """Nothing accepted a connection at the extension's port, even after a few retries:
    usually the layer is not attached."""


class KinkoTimeoutError(KinkoError, TimeoutError):
    """No complete answer within the client's timeout."""


def _monotonic_and_wall():
    return time.monotonic(), time.time()


class Client:
    """A client of the extension. Safe to share across threads; create one per process.

    port: default PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, else 2773.
    token: default AWS_SESSION_TOKEN, else AWS_CONTAINER_AUTHORIZATION_TOKEN, read at every
        request (SnapStart restores a sandbox with new credentials).
    timeout: seconds for a whole call, retries included.
    cache_size: answers kept in memory at most; 0 turns the memory off.
    environ: where the variables are read (default os.environ).
    clock: returns (monotonic seconds, wall seconds); for tests.
    """

    def __init__(self, *, port=None, token=None, timeout=DEFAULT_TIMEOUT, cache_size=DEFAULT_CACHE_SIZE,
                 environ=None, hosts=DEFAULT_HOSTS, clock=_monotonic_and_wall):
        self._env = os.environ if environ is None else environ
        if port is None:
            raw = self._env.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "")
            if raw:
                if not (raw.isdigit() and 1 <= int(raw) <= 65535):
                    raise ValueError("kinko: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=%r is not a port number (1-65535)" % raw)
                port = int(raw)
            else:
                port = DEFAULT_PORT
        elif not (isinstance(port, int) and 1 <= port <= 65535):
            raise ValueError("kinko: port %r is not a port number (1-65535)" % (port,))
        if not timeout or timeout <= 0:
            raise ValueError("kinko: timeout %r must be a positive number of seconds" % (timeout,))
        if cache_size < 0:
            raise ValueError("kinko: cache_size %r is negative: pass 0 to turn the memory off" % (cache_size,))
        if not hosts:
            raise ValueError("kinko: hosts is empty: pass loopback addresses like ('127.0.0.1', '::1')")
        self.port = port
        self._token = token
        self._timeout = float(timeout)
        self._hosts = tuple(hosts)
        self._clock = clock
        self._memo = Memo(cache_size) if cache_size else None

    # The public reads.

    def get_secret(self, secret_id, *, json_key=None, version_stage=None, version_id=None, refresh=False):
        """The secret's SecretString, or with json_key the string value of that top-level key
        of a JSON SecretString (kinko answers 404 when the key is absent, 400 when the secret
        is not a JSON object)."""
        if json_key is None:
            doc = self._secret(secret_id, version_stage, version_id, refresh)
            value = doc.get("SecretString")
            if not isinstance(value, str):
                raise KinkoError("kinko: secret %r has no SecretString (a binary secret?): read it with "
                                 "get_secret_value(), whose SecretBinary holds the bytes" % (secret_id,))
            return value
        if not isinstance(json_key, str) or not json_key:
            raise ValueError("kinko: secret %r: json_key must be the name of a top-level key" % (secret_id,))
        return self._secret_key(secret_id, json_key, version_stage, version_id, refresh)

    def get_secret_value(self, secret_id, *, version_stage=None, version_id=None, refresh=False):
        """The whole GetSecretValue answer, as kinko sends it (ARN, Name, VersionId,
        SecretString, SecretBinary, VersionStages, CreatedDate), with SecretBinary decoded to
        bytes. A new dict at every call."""
        return _copy_doc(self._secret(secret_id, version_stage, version_id, refresh))

    def get_parameter(self, name, *, decrypt=True, refresh=False):
        """The parameter's value; decrypt decrypts a SecureString. A name may carry a version
        or label selector, as SSM takes it ("/app/db:3", "/app/db:prod")."""
        return self._parameter(name, decrypt, refresh)["Parameter"]["Value"]

    def get_parameter_value(self, name, *, decrypt=True, refresh=False):
        """The whole GetParameter answer, as kinko sends it ({"Parameter": {...}}). A new dict
        at every call."""
        doc = self._parameter(name, decrypt, refresh)
        out = dict(doc)
        out["Parameter"] = dict(doc["Parameter"])
        return out

    def clear_cache(self):
        """Forget every answer kept in memory."""
        if self._memo is not None:
            self._memo.clear()

    # What the reads share.

    def _secret(self, secret_id, stage, version_id, refresh):
        key = _secret_key_of(secret_id, stage, version_id, "")
        hit, sent = self._cached(key, refresh)
        if hit is not None:
            return hit
        query, what = _secret_query(secret_id, stage, version_id, refresh, None)
        resp = self._get("/secretsmanager/get", query, what)
        doc = _json_doc(resp, what, "GetSecretValue")
        if not isinstance(doc, dict):
            raise KinkoError("kinko: %s: the answer is not a GetSecretValue JSON document" % what)
        binary = doc.get("SecretBinary")
        if isinstance(binary, str):
            try:
                doc["SecretBinary"] = binascii.a2b_base64(binary)
            except (binascii.Error, ValueError):
                raise KinkoError("kinko: %s: SecretBinary is not base64" % what) from None
        self._keep(key, sent, resp, doc)
        return doc

    def _secret_key(self, secret_id, json_key, stage, version_id, refresh):
        key = _secret_key_of(secret_id, stage, version_id, json_key)
        hit, sent = self._cached(key, refresh)
        if hit is not None:
            return hit
        query, what = _secret_query(secret_id, stage, version_id, refresh, json_key)
        resp = self._get("/secretsmanager/get", query, what)
        if not resp.header("content-type").startswith("application/json"):
            value = _text(resp, what)  # kinko's text/plain answer
        else:
            # An extension without jsonKey (AWS's) sends the whole document: pick the key here,
            # with the errors kinko would have answered.
            doc = _json_doc(resp, what, "GetSecretValue")
            try:
                obj = json.loads(doc.get("SecretString") or "null") if isinstance(doc, dict) else None
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                raise KinkoError("kinko: %s: 400: the secret is not a JSON object" % what, status=400)
            value = obj.get(json_key)
            if not isinstance(value, str):
                raise KinkoError("kinko: %s: 404: the secret has no string key %r" % (what, json_key), status=404)
        self._keep(key, sent, resp, value)
        return value

    def _parameter(self, name, decrypt, refresh):
        _check_id("parameter name", name)
        decrypt = bool(decrypt)
        key = ("parameter", name, decrypt)
        hit, sent = self._cached(key, refresh)
        if hit is not None:
            return hit
        query = [("name", name)]
        if decrypt:
            query.append(("withDecryption", "true"))
        if refresh:
            query.append(("refreshNow", "true"))
        what = "parameter %r" % (name,)
        resp = self._get("/systemsmanager/parameters/get", query, what)
        doc = _json_doc(resp, what, "GetParameter")
        p = doc.get("Parameter") if isinstance(doc, dict) else None
        if not isinstance(p, dict) or not isinstance(p.get("Value"), str):
            raise KinkoError("kinko: %s: the answer is not a GetParameter JSON document" % what)
        self._keep(key, sent, resp, doc)
        return doc

    def _cached(self, key, refresh):
        """(kept value or None, the time to store a new answer under)."""
        if self._memo is None:
            return None, None
        now = self._clock()
        if refresh:
            self._memo.drop(key, now)
            return None, now
        hit = self._memo.get(key, now)
        return (hit[0] if hit else None), now

    def _keep(self, key, sent, resp, value):
        if self._memo is not None:
            self._memo.put(key, sent, resp.header_lines("cache-status"), value)

    def _session_token(self):
        if self._token:
            return self._token
        return self._env.get("AWS_SESSION_TOKEN") or self._env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or ""

    def _get(self, path, query, what):
        """One logical GET: refused connections retried, all within the timeout. Returns a 200
        answer; raises KinkoError for anything else."""
        token = self._session_token()
        if not token:
            raise KinkoError("kinko: %s: no session token: neither AWS_SESSION_TOKEN nor "
                             "AWS_CONTAINER_AUTHORIZATION_TOKEN is set (Lambda sets one; set it yourself "
                             "when running locally)" % what)
        if any(c in token for c in "\r\n\0"):
            raise KinkoError("kinko: %s: the session token holds a line break or NUL; it cannot be sent" % what)
        target = path + "?" + "&".join(_quote(k) + "=" + _quote(v) for k, v in query)
        deadline = time.monotonic() + self._timeout
        delay = _FIRST_DELAY
        attempt = 1
        while True:
            try:
                sock, host = _http.connect(self._hosts, self.port, deadline)
                break
            except _http.Refused:
                if attempt >= _ATTEMPTS or deadline - time.monotonic() <= delay:
                    raise KinkoUnreachableError(
                        "kinko: %s: extension unreachable: nothing accepts connections on port %d at %s: is the "
                        "kinko layer (or AWS's Parameters and Secrets layer) attached?"
                        % (what, self.port, " or ".join(self._hosts))) from None
                time.sleep(delay)
                delay = min(2 * delay, _MAX_DELAY)
                attempt += 1
            except _http.Deadline:
                raise self._timed_out(what) from None
            except OSError as e:
                raise KinkoError("kinko: %s: connecting to port %d: %s" % (what, self.port, e)) from None
        if host != self._hosts[0]:
            # The next call tries the address that answered first.
            self._hosts = (host,) + tuple(h for h in self._hosts if h != host)
        try:
            resp = _http.get(sock, host, self.port, target, [(TOKEN_HEADER, token)], deadline)
        except _http.Deadline:
            raise self._timed_out(what) from None
        except (OSError, ValueError) as e:
            # Never the body: it may hold the secret. These messages are the reader's own.
            raise KinkoError("kinko: %s: reading the answer from port %d: %s" % (what, self.port, e)) from None
        if 300 <= resp.status < 400:
            to = resp.header("location")[:200] or "nowhere (no Location)"
            raise KinkoError("kinko: %s: %d redirect to %s not followed: the session token goes to the extension's "
                             "address only, and kinko never redirects; is something else listening on port %d?"
                             % (what, resp.status, to, self.port), status=resp.status)
        if resp.status != 200:
            raise _error(resp, what)
        return resp

    def _timed_out(self, what):
        return KinkoTimeoutError("kinko: %s: no complete answer from port %d within %gs" % (what, self.port, self._timeout))


def _secret_key_of(secret_id, stage, version_id, json_key):
    """The memory key of a secret read: the whole request."""
    _check_id("secret id", secret_id)
    if stage and version_id:
        raise ValueError("kinko: secret %r: version_stage and version_id exclude each other; pass one" % (secret_id,))
    return ("secret-key" if json_key else "secret", secret_id, stage or "", version_id or "", json_key)


def _secret_query(secret_id, stage, version_id, refresh, json_key):
    """The query and the name of a secret read."""
    query = [("secretId", secret_id)]
    what = "secret %r" % (secret_id,)
    if json_key:
        query.append(("jsonKey", json_key))
        what += " key %r" % (json_key,)
    if stage:
        query.append(("versionStage", stage))
    if version_id:
        query.append(("versionId", version_id))
    if refresh:
        query.append(("refreshNow", "true"))
    return query, what


def _check_id(what, value):
    if not isinstance(value, str) or not value:
        raise ValueError("kinko: empty or non-string %s: pass a name or ARN" % what)


def _copy_doc(doc):
    out = dict(doc)
    if isinstance(out.get("VersionStages"), list):
        out["VersionStages"] = list(out["VersionStages"])
    return out


def _text(resp, what):
    try:
        return resp.body.decode("utf-8")
    except UnicodeDecodeError:
        raise KinkoError("kinko: %s: the answer is not UTF-8 text (%d bytes)" % (what, len(resp.body))) from None


def _json_doc(resp, what, kind):
    try:
        return json.loads(resp.body)
    except ValueError:
        # The decoder's message may quote part of the body, which holds the secret: say only where.
        raise KinkoError("kinko: %s: the answer is not a %s JSON document (%d bytes, Content-Type %r)"
                         % (what, kind, len(resp.body), resp.header("content-type"))) from None


def _error(resp, what):
    """KinkoError for an error answer: kinko's {"__type", "message"}, or AWS's extension's text."""
    code, message = "", ""
    try:
        doc = json.loads(resp.body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        code = doc.get("__type") if isinstance(doc.get("__type"), str) else ""
        message = doc.get("message") or doc.get("Message") or ""
        if not isinstance(message, str):
            message = ""
    else:
        message = " ".join(resp.body.decode("utf-8", "replace").split())
    if not code:
        # AWS style: "AccessDeniedException" or "AccessDeniedException:http://internal..."
        code = resp.header("x-amzn-errortype").split(":", 1)[0]
    code = code.rsplit("#", 1)[-1]  # "com.amazonaws...#ResourceNotFoundException"
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    text = "kinko: %s: %d %s" % (what, resp.status, code or "error")
    if message:
        text += ": " + message
    return KinkoError(text, status=resp.status, code=code or None)


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(s):
    """Percent-encode s for a query (UTF-8), without urllib.parse's import."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in s.encode("utf-8"))


# The module's functions share one client, made at the first call.
_default = None


def _client():
    global _default
    if _default is None:
        _default = Client()
    return _default


def get_secret(secret_id, *, json_key=None, version_stage=None, version_id=None, refresh=False):
    """Client.get_secret on the shared client."""
    return _client().get_secret(secret_id, json_key=json_key, version_stage=version_stage,
                                version_id=version_id, refresh=refresh)


def get_secret_value(secret_id, *, version_stage=None, version_id=None, refresh=False):
    """Client.get_secret_value on the shared client."""
    return _client().get_secret_value(secret_id, version_stage=version_stage, version_id=version_id, refresh=refresh)


def get_parameter(name, *, decrypt=True, refresh=False):
    """Client.get_parameter on the shared client."""
    return _client().get_parameter(name, decrypt=decrypt, refresh=refresh)


def get_parameter_value(name, *, decrypt=True, refresh=False):
    """Client.get_parameter_value on the shared client."""
    return _client().get_parameter_value(name, decrypt=decrypt, refresh=refresh)
