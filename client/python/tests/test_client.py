"""Tests of the Python client against a fake extension (tests/fake.py).

Run from client/python: PYTHONPATH=. python3 -m unittest discover -s tests
(make test runs them through layer/clients_test.go).
"""
import ast
import json
import os
import pathlib
import socket
import threading
import time
import unittest

import kinko
from kinko import _memo
from fake import FakeClock, FakeKinko, ipv6_loopback, json_answer, parameter_doc, secret_doc

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE.parent / "kinko"
SHARED_CASES = HERE.parent.parent / "internal" / "memo" / "testdata" / "keepfor.json"

VALUE = "s3cr3t-py-" + os.urandom(6).hex()


class Case(unittest.TestCase):
    def serve(self, answer, host="127.0.0.1", port=0):
        k = FakeKinko(answer, host=host, port=port)
        self.addCleanup(k.close)
        return k

    def client(self, k, **kw):
        env = kw.pop("environ", {"AWS_SESSION_TOKEN": "tok-1"})
        kw.setdefault("hosts", ("127.0.0.1",))
        return kinko.Client(port=k.port, environ=env, **kw)

    def assertNoValue(self, text):
        if VALUE in text:
            self.fail("the text holds the secret value (not printed)")


class KeepForTest(unittest.TestCase):
    def test_shared_cases(self):
        cases = json.loads(SHARED_CASES.read_text(encoding="utf-8"))["cases"]
        self.assertGreater(len(cases), 30)
        for c in cases:
            with self.subTest(lines=c["lines"]):
                self.assertEqual(_memo.keep_for(c["lines"]), c["keep_ms"] / 1000)


class MemoTest(Case):
    def test_serves_from_memory_inside_half_the_ttl(self):
        clock = FakeClock()
        status = ["kinko; fwd=miss; stored; ttl=300"]
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE), status[0]))
        c = self.client(k, clock=clock)
        self.assertEqual(c.get_secret("app"), VALUE)
        clock.advance(149)
        self.assertEqual(c.get_secret("app"), VALUE)
        self.assertEqual(k.count(), 1, "a read inside half of kinko's ttl went to kinko")
        clock.advance(1)  # 150 s: half of ttl=300 is over
        status[0] = "kinko; hit; ttl=150"
        self.assertEqual(c.get_secret("app"), VALUE)
        self.assertEqual(k.count(), 2, "a read after half of kinko's ttl was served from memory")
        clock.advance(74)  # kinko said 150 s left: kept 75 s more
        c.get_secret("app")
        self.assertEqual(k.count(), 2)
        clock.advance(1)
        c.get_secret("app")
        self.assertEqual(k.count(), 3)

    def test_keep_counts_from_when_the_request_was_sent(self):
        clock = FakeClock()

        def slow(r):
            clock.advance(20)  # the answer arrives 20 s after the request left
            return json_answer(secret_doc("app", VALUE), "kinko; hit; ttl=60")

        k = self.serve(slow)
        c = self.client(k, clock=clock)
        c.get_secret("app")
        clock.advance(9)  # 29 s after sending: within 30
        c.get_secret("app")
        self.assertEqual(k.count(), 1)
        clock.advance(1)  # 30 s after sending: over
        c.get_secret("app")
        self.assertEqual(k.count(), 2)

    def test_stale_error_and_ttl_less_answers_are_not_kept(self):
        for status in ["kinko; hit; detail=stale-if-error", None, "kinko; fwd=bypass", "kinko; hit; ttl=0",
                       "garbage;;", "kinko; hit; ttl=300; detail=stale-while-revalidate"]:
            with self.subTest(cache_status=status):
                k = self.serve(lambda r, s=status: json_answer(secret_doc("app", VALUE), s))
                c = self.client(k, clock=FakeClock())
                c.get_secret("app")
                c.get_secret("app")
                self.assertEqual(k.count(), 2, "an answer without a fresh ttl was kept")

    def test_an_error_is_not_kept_and_drops_nothing_fresh(self):
        answers = [json_answer(secret_doc("app", VALUE)),
                   (400, [("Content-Type", "application/json")], '{"__type":"ResourceNotFoundException","message":"gone"}')]
        k = self.serve(lambda r: answers[min(len(k.requests), 2) - 1])
        c = self.client(k, clock=FakeClock())
        c.get_secret("app")
        with self.assertRaises(kinko.KinkoError):
            c.get_secret("other")
        with self.assertRaises(kinko.KinkoError):
            c.get_secret("other")
        self.assertEqual(k.count(), 3, "an error answer was kept")
        self.assertEqual(c.get_secret("app"), VALUE)
        self.assertEqual(k.count(), 3)

    def test_wall_clock_ages_an_answer_when_the_monotonic_clock_stood_still(self):
        clock = FakeClock()
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE), "kinko; hit; ttl=300"))
        c = self.client(k, clock=clock)
        c.get_secret("app")
        clock.wall += 151  # a frozen sandbox: the monotonic clock did not move
        c.get_secret("app")
        self.assertEqual(k.count(), 2)

    def test_refresh_bypasses_and_replaces(self):
        clock = FakeClock()
        values = ["old-" + VALUE]
        def answer(r):
            status = "kinko; fwd=request; stored; ttl=300" if r.q("refreshNow") else "kinko; hit; ttl=300"
            if r.path.startswith("/systemsmanager"):
                return json_answer(parameter_doc(r.q("name"), values[0]), status)
            return json_answer(secret_doc("app", values[0]), status)

        k = self.serve(answer)
        c = self.client(k, clock=clock)
        self.assertEqual(c.get_secret("app"), "old-" + VALUE)
        values[0] = "new-" + VALUE
        self.assertEqual(c.get_secret("app"), "old-" + VALUE)  # from memory
        self.assertEqual(c.get_secret("app", refresh=True), "new-" + VALUE)
        self.assertEqual(k.requests[-1].q("refreshNow"), "true")
        self.assertEqual(c.get_secret("app"), "new-" + VALUE)  # the refreshed answer, from memory
        self.assertEqual(k.count(), 2)
        c.get_parameter("/p", refresh=True)
        self.assertEqual(k.requests[-1].q("refreshNow"), "true")

    def test_key_is_the_whole_request(self):
        def answer(r):
            if r.path.startswith("/systemsmanager"):
                return json_answer(parameter_doc(r.q("name"), "%s|%s" % (r.q("name"), r.q("withDecryption"))))
            if r.q("jsonKey"):
                return 200, [("Content-Type", "text/plain"), ("Cache-Status", "kinko; hit; ttl=300")], \
                    "%s|%s|%s|%s" % (r.q("secretId"), r.q("versionStage"), r.q("versionId"), r.q("jsonKey"))
            return json_answer(secret_doc(r.q("secretId"), "%s|%s|%s" % (r.q("secretId"), r.q("versionStage"), r.q("versionId"))))

        k = self.serve(answer)
        c = self.client(k, clock=FakeClock())
        reads = [
            (lambda: c.get_secret("a"), "a|None|None"),
            (lambda: c.get_secret("b"), "b|None|None"),
            (lambda: c.get_secret("a", version_stage="AWSPREVIOUS"), "a|AWSPREVIOUS|None"),
            (lambda: c.get_secret("a", version_id="v9"), "a|None|v9"),
            (lambda: c.get_secret("a", json_key="k"), "a|None|None|k"),
            (lambda: c.get_secret("a", json_key="j"), "a|None|None|j"),
            (lambda: c.get_secret("a", json_key="k", version_stage="AWSPENDING"), "a|AWSPENDING|None|k"),
            (lambda: c.get_parameter("/p"), "/p|true"),
            (lambda: c.get_parameter("/p", decrypt=False), "/p|None"),
            (lambda: c.get_parameter("a"), "a|true"),
        ]
        for _ in range(2):
            for read, want in reads:
                self.assertEqual(read(), want)
        self.assertEqual(k.count(), len(reads), "two different requests shared an answer, or one was asked twice")

    def test_memory_is_a_bounded_lru(self):
        k = self.serve(lambda r: json_answer(secret_doc(r.q("secretId"), VALUE)))
        c = self.client(k, clock=FakeClock(), cache_size=2)
        c.get_secret("a")
        c.get_secret("b")
        c.get_secret("a")  # a is now the most recently used
        c.get_secret("c")  # evicts b
        self.assertEqual(k.count(), 3)
        c.get_secret("a")
        self.assertEqual(k.count(), 3)
        c.get_secret("b")
        self.assertEqual(k.count(), 4)
        self.assertLessEqual(len(c._memo), 2)

    def test_memory_off(self):
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE)))
        c = self.client(k, cache_size=0)
        c.get_secret("app")
        c.get_secret("app")
        self.assertEqual(k.count(), 2)

    def test_whole_answers_are_copies(self):
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE)) if r.path.startswith("/secrets")
                       else json_answer(parameter_doc("/p", VALUE)))
        c = self.client(k, clock=FakeClock())
        doc = c.get_secret_value("app")
        self.assertEqual(doc["VersionStages"], ["AWSCURRENT"])
        doc["SecretString"] = "changed"
        doc["VersionStages"].append("X")
        again = c.get_secret_value("app")
        self.assertEqual(again["SecretString"], VALUE)
        self.assertEqual(again["VersionStages"], ["AWSCURRENT"])
        p = c.get_parameter_value("/p")
        p["Parameter"]["Value"] = "changed"
        self.assertEqual(c.get_parameter("/p"), VALUE)
        self.assertEqual(k.count(), 2)

    def test_concurrent_reads(self):
        k = self.serve(lambda r: json_answer(secret_doc(r.q("secretId"), r.q("secretId") + VALUE)))
        c = self.client(k, cache_size=3)
        errors = []

        def read(i):
            try:
                for j in range(30):
                    sid = "s%d" % ((i + j) % 5)
                    if c.get_secret(sid) != sid + VALUE:
                        errors.append("another id's value")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(type(e).__name__)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class ReadTest(Case):
    def test_secret_json_key_and_parameter(self):
        def answer(r):
            if r.path == "/systemsmanager/parameters/get":
                return json_answer(parameter_doc(r.q("name"), VALUE))
            if r.q("jsonKey"):
                return 200, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Status", "kinko; hit; ttl=9")], VALUE
            return json_answer(secret_doc(r.q("secretId"), VALUE))

        k = self.serve(answer)
        c = self.client(k)
        self.assertEqual(c.get_secret("prod/db"), VALUE)
        self.assertEqual(k.requests[-1].path, "/secretsmanager/get")
        self.assertEqual(k.requests[-1].q("secretId"), "prod/db")
        self.assertEqual(c.get_secret("prod/db", json_key="password"), VALUE)
        self.assertEqual(k.requests[-1].q("jsonKey"), "password")
        self.assertEqual(c.get_parameter("/prod/db url"), VALUE)
        self.assertEqual(k.requests[-1].q("name"), "/prod/db url")
        self.assertEqual(k.requests[-1].q("withDecryption"), "true")
        doc = c.get_secret_value("prod/db", version_stage="AWSPREVIOUS")
        self.assertEqual(doc["Name"], "prod/db")
        self.assertEqual(k.requests[-1].q("versionStage"), "AWSPREVIOUS")
        for req in k.requests:
            self.assertEqual(req.headers.get("x-aws-parameters-secrets-token"), "tok-1")

    def test_unicode_ids_and_values_round_trip(self):
        value = "pw ünïcödé 🔑 キー\nline2=x==y&z" + VALUE
        k = self.serve(lambda r: json_answer(secret_doc(r.q("secretId"), value)))
        c = self.client(k)
        self.assertEqual(c.get_secret("app/ключ&x=1+2 #"), value)
        self.assertEqual(k.requests[-1].q("secretId"), "app/ключ&x=1+2 #")

    def test_chunked_and_close_delimited_answers(self):
        body = secret_doc("app", VALUE * 50)
        k = self.serve(lambda r: (200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], body))
        self.assertEqual(self.client(k).get_secret("app"), VALUE * 50)

        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.addCleanup(srv.close)

        def close_delimited():
            conn, _ = srv.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body.encode())

        t = threading.Thread(target=close_delimited)
        t.start()
        try:
            c = kinko.Client(port=srv.getsockname()[1], environ={"AWS_SESSION_TOKEN": "t"}, hosts=("127.0.0.1",))
            self.assertEqual(c.get_secret("app"), VALUE * 50)
        finally:
            t.join()

    def test_json_key_from_an_extension_without_it(self):
        # AWS's extension ignores jsonKey and answers the whole document.
        doc = {"password": VALUE, "n": 3}
        k = self.serve(lambda r: json_answer(secret_doc("app", json.dumps(doc)), None))
        c = self.client(k)
        self.assertEqual(c.get_secret("app", json_key="password"), VALUE)
        with self.assertRaises(kinko.KinkoError) as e:
            c.get_secret("app", json_key="absent")
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(kinko.KinkoError) as e:
            c.get_secret("app", json_key="n")  # not a string
        self.assertEqual(e.exception.status, 404)
        self.assertNoValue(str(e.exception))

        k2 = self.serve(lambda r: json_answer(secret_doc("app", "not json " + VALUE), None))
        with self.assertRaises(kinko.KinkoError) as e:
            self.client(k2).get_secret("app", json_key="password")
        self.assertEqual(e.exception.status, 400)
        self.assertNoValue(str(e.exception))

    def test_binary_secret(self):
        k = self.serve(lambda r: json_answer(json.dumps({"Name": "bin", "SecretString": None, "SecretBinary": "AAEC/w==",
                                                         "VersionStages": ["AWSCURRENT"]})))
        c = self.client(k)
        self.assertEqual(c.get_secret_value("bin")["SecretBinary"], b"\x00\x01\x02\xff")
        with self.assertRaises(kinko.KinkoError) as e:
            c.get_secret("bin")
        self.assertIn("get_secret_value", str(e.exception))

    def test_bad_arguments(self):
        c = kinko.Client(environ={"AWS_SESSION_TOKEN": "t"})
        with self.assertRaises(ValueError):
            c.get_secret("")
        with self.assertRaises(ValueError):
            c.get_secret("a", version_stage="S", version_id="V")
        with self.assertRaises(ValueError):
            c.get_secret("a", json_key="")
        with self.assertRaises(ValueError):
            c.get_parameter(None)
        for bad in ["0", "65536", "x", "-1"]:
            with self.assertRaises(ValueError) as e:
                kinko.Client(environ={"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": bad})
            self.assertIn("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(e.exception))


class ErrorTest(Case):
    def test_errors_carry_code_and_status_never_the_value(self):
        cases = [
            ((400, [("Content-Type", "application/json")],
              '{"__type":"ResourceNotFoundException","message":"Secrets Manager can\'t find the specified secret."}'),
             400, "ResourceNotFoundException"),
            ((401, [("x-amzn-errortype", "AccessDeniedException:http://internal/")], "bad session token or header key"),
             401, "AccessDeniedException"),
            ((400, [], '{"__type":"com.amazonaws.kms#KMSAccessDeniedException","Message":"no"}'), 400, "KMSAccessDeniedException"),
            ((504, [], '{"__type":"GatewayTimeout","message":"Secrets Manager did not answer"}'), 504, "GatewayTimeout"),
            ((500, [], "x" * 5000), 500, None),
        ]
        for answer, status, code in cases:
            with self.subTest(status=status, code=code):
                k = self.serve(lambda r, a=answer: a)
                with self.assertRaises(kinko.KinkoError) as e:
                    self.client(k).get_secret("app")
                self.assertEqual(e.exception.status, status)
                self.assertEqual(e.exception.code, code)
                self.assertIn("'app'", str(e.exception))
                self.assertLess(len(str(e.exception)), 500)

    def test_a_body_that_is_not_json_is_never_quoted(self):
        k = self.serve(lambda r: (200, [("Content-Type", "application/json")], '{"SecretString": "%s", broken' % VALUE))
        with self.assertRaises(kinko.KinkoError) as e:
            self.client(k).get_secret("app")
        self.assertNoValue(str(e.exception))
        self.assertNoValue(repr(e.exception.__cause__) + repr(e.exception.__context__))

    def test_no_token_makes_no_request(self):
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE)))
        with self.assertRaises(kinko.KinkoError) as e:
            self.client(k, environ={}).get_secret("app")
        self.assertIn("AWS_SESSION_TOKEN", str(e.exception))
        self.assertEqual(k.count(), 0)

    def test_token_order_and_port_from_the_environment(self):
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE)))
        port = str(k.port)
        for env, want in [
            ({"AWS_SESSION_TOKEN": "session", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container"}, "session"),
            ({"AWS_SESSION_TOKEN": "", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container"}, "container"),
            ({"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container"}, "container"),
        ]:
            env = dict(env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=port)
            c = kinko.Client(environ=env, hosts=("127.0.0.1",), cache_size=0)
            self.assertEqual(c.port, k.port)
            c.get_secret("app")
            self.assertEqual(k.requests[-1].headers["x-aws-parameters-secrets-token"], want)
        # Read at every request: SnapStart restores a sandbox with new credentials.
        env = {"AWS_SESSION_TOKEN": "before", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port}
        c = kinko.Client(environ=env, hosts=("127.0.0.1",), cache_size=0)
        c.get_secret("app")
        env["AWS_SESSION_TOKEN"] = "after"
        c.get_secret("app")
        self.assertEqual(k.requests[-1].headers["x-aws-parameters-secrets-token"], "after")

    def test_never_follows_a_redirect(self):
        elsewhere = self.serve(lambda r: json_answer(secret_doc("app", VALUE)))
        k = self.serve(lambda r: (307, [("Location", "http://127.0.0.1:%d/secretsmanager/get?secretId=app" % elsewhere.port)], ""))
        with self.assertRaises(kinko.KinkoError) as e:
            self.client(k).get_secret("app")
        self.assertEqual(e.exception.status, 307)
        self.assertIn("not followed", str(e.exception))
        self.assertEqual(elsewhere.count(), 0, "the redirect was followed: the token went elsewhere")

    def test_never_uses_a_proxy(self):
        proxy = self.serve(lambda r: json_answer(secret_doc("app", "from the proxy")))
        k = self.serve(lambda r: json_answer(secret_doc("app", VALUE)))
        url = "http://127.0.0.1:%d" % proxy.port
        saved = {v: os.environ.get(v) for v in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "NO_PROXY", "no_proxy")}
        os.environ.update({"HTTP_PROXY": url, "http_proxy": url, "ALL_PROXY": url, "NO_PROXY": "", "no_proxy": ""})
        try:
            self.assertEqual(self.client(k).get_secret("app"), VALUE)
        finally:
            for name, v in saved.items():
                if v is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = v
        self.assertEqual(proxy.count(), 0)

    def test_unreachable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        c = kinko.Client(port=port, environ={"AWS_SESSION_TOKEN": "t"}, hosts=("127.0.0.1",))
        with self.assertRaises(kinko.KinkoUnreachableError) as e:
            c.get_secret("app")
        self.assertIn("layer", str(e.exception))
        self.assertIsNone(e.exception.status)
        self.assertIsInstance(e.exception, ConnectionError)

    def test_the_whole_call_is_bounded_by_the_timeout(self):
        # A server that sends a byte every 50 ms for 5 s: each read is quick, the call is not.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.addCleanup(srv.close)
        stop = threading.Event()

        def dribble():
            conn, _ = srv.accept()
            with conn:
                conn.recv(65536)
                for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 100:
                    if stop.wait(0.05):
                        return
                    try:
                        conn.sendall(bytes([b]))
                    except OSError:
                        return

        t = threading.Thread(target=dribble)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        c = kinko.Client(port=srv.getsockname()[1], environ={"AWS_SESSION_TOKEN": "t"}, hosts=("127.0.0.1",), timeout=0.3)
        with self.assertRaises(kinko.KinkoTimeoutError) as e:
            c.get_secret("app")
        self.assertIsInstance(e.exception, TimeoutError)
        self.assertIsNone(e.exception.status)


class AddressTest(Case):
    def test_ipv4_first(self):
        if not ipv6_loopback():
            self.skipTest("no IPv6 loopback on this machine")
        v4 = self.serve(lambda r: json_answer(secret_doc("app", "v4")))
        v6 = self.serve(lambda r: json_answer(secret_doc("app", "v6")), host="::1", port=v4.port)
        c = kinko.Client(port=v4.port, environ={"AWS_SESSION_TOKEN": "t"}, cache_size=0)
        self.assertEqual(c.get_secret("app"), "v4")
        self.assertEqual(v6.count(), 0)

    def test_ipv6_when_ipv4_refuses(self):
        if not ipv6_loopback():
            self.skipTest("no IPv6 loopback on this machine")
        # A port free on both families, served on [::1] only.
        for _ in range(20):
            v6 = FakeKinko(lambda r: json_answer(secret_doc("app", VALUE)), host="::1")
            probe = socket.socket()
            try:
                probe.bind(("127.0.0.1", v6.port))
                probe.close()
                break
            except OSError:
                probe.close()
                v6.close()
        else:
            self.skipTest("no port free on both 127.0.0.1 and [::1]")
        self.addCleanup(v6.close)
        c = kinko.Client(port=v6.port, environ={"AWS_SESSION_TOKEN": "t"}, cache_size=0)
        self.assertEqual(c.get_secret("app"), VALUE)
        self.assertEqual(c.get_secret("app"), VALUE)
        self.assertEqual(v6.count(), 2)
        self.assertTrue(v6.requests[0].headers["host"].startswith("[::1]:"))

    def test_default_port(self):
        self.assertEqual(kinko.Client(environ={}).port, 2773)


class ModuleTest(unittest.TestCase):
    def test_module_functions_share_one_client(self):
        k = FakeKinko(lambda r: json_answer(secret_doc("app", VALUE)) if r.path.startswith("/secrets")
                      else json_answer(parameter_doc("/p", VALUE)))
        self.addCleanup(k.close)
        saved = {v: os.environ.get(v) for v in ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "AWS_SESSION_TOKEN")}
        os.environ.update({"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(k.port), "AWS_SESSION_TOKEN": "module"})
        self.addCleanup(lambda: [os.environ.pop(n, None) if v is None else os.environ.__setitem__(n, v) for n, v in saved.items()])
        kinko._default = None
        self.addCleanup(setattr, kinko, "_default", None)
        self.assertEqual(kinko.get_secret("app"), VALUE)
        self.assertEqual(kinko.get_secret("app"), VALUE)
        self.assertEqual(kinko.get_secret_value("app")["SecretString"], VALUE)
        self.assertEqual(kinko.get_parameter("/p"), VALUE)
        self.assertEqual(kinko.get_parameter_value("/p")["Parameter"]["Value"], VALUE)
        self.assertEqual(k.count(), 2)

    def test_source_is_python_3_9(self):
        for path in sorted(PACKAGE.glob("*.py")):
            with self.subTest(file=path.name):
                ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))

    def test_standard_library_only_and_no_slow_imports(self):
        allowed = {"_thread", "binascii", "collections", "json", "os", "socket", "time"}
        for path in sorted(PACKAGE.glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                for n in names:
                    self.assertIn(n.split(".")[0], allowed, "%s imports %s" % (path.name, n))


if __name__ == "__main__":
    unittest.main()
