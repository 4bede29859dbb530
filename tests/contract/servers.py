"""Loopback servers the storage tests talk to over real HTTP: moto's S3 and a faithful OCI Object Storage fake.

``AtomicMotoServer`` is moto's ``ThreadedMotoServer`` with one change: requests that modify
objects (PUT/POST/DELETE) are served one at a time. moto evaluates ``If-None-Match`` /
``If-Match`` and then writes as two separate steps, so two threads of its threaded server can
both pass the check; S3 itself makes a conditional write atomic. Serializing writes gives the
tests S3's guarantee without hiding anything about our client (reads stay concurrent).

``FakeOciObjectStorage`` serves the subset of the Object Storage REST API that
``OciObjectStore`` uses, the way OCI answers it: ``PUT/GET/HEAD/DELETE
/n/{ns}/b/{bucket}/o/{name}``, ``GET /n/{ns}/b/{bucket}/o`` (prefix, start, startAfter,
limit, ``nextStartWith``), ``GET /n/`` (namespace), opaque UUID ETags, ``if-match`` /
``if-none-match: *`` answered with 412 ``IfMatchFailed`` / ``IfNoneMatchFailed``, 404
``ObjectNotFound`` / ``BucketNotFound`` and JSON error bodies ``{"code", "message"}``. It
requires a request-signature ``Authorization`` header (it does not verify it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

logging.getLogger("werkzeug").setLevel(logging.ERROR)

S3_TEST_KEYS = {"access_key": "testing-access-key", "secret_key": "testing-secret-key"}


class _SerializedWrites:
    """WSGI middleware: one mutating request at a time (S3's conditional writes are atomic)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
            with self.lock:
                result = self.app(environ, start_response)
                try:
                    body = b"".join(result)
                finally:
                    close = getattr(result, "close", None)
                    if close:
                        close()
                return [body]
        return self.app(environ, start_response)


class AtomicMotoServer(ThreadedMotoServer):
    """moto's threaded server on 127.0.0.1 with conditional writes made atomic (see module doc)."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)

    def _server_entry(self) -> None:
        app = _SerializedWrites(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self):
        """One shared boto3 client (thread-safe; building one costs ~0.3 s)."""
        if getattr(self, "_client", None) is None:
            from mlops.storage.s3 import make_s3_client

            self._client = make_s3_client(
                endpoint_url=self.endpoint,
                region="us-east-1",
                access_key=S3_TEST_KEYS["access_key"],
                secret_key=S3_TEST_KEYS["secret_key"],
            )
        return self._client

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


# ----------------------------------------------------------------------------- OCI fake


class _Obj:
    __slots__ = ("data", "etag", "content_type", "md5", "modified")

    def __init__(self, data: bytes, content_type: str):
        self.data = data
        self.etag = str(uuid.uuid4())
        self.content_type = content_type
        self.md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        self.modified = formatdate(usegmt=True)


class FakeOciObjectStorage:
    """An in-memory Object Storage service on a loopback port (see module doc)."""

    def __init__(self, namespace: str = "testns"):
        self.namespace = namespace
        self.buckets: dict[str, dict[str, _Obj]] = {}
        self.lock = threading.Lock()
        self.requests = 0
        self.unsigned_requests = 0
        self.drop_responses = 0  # apply this many next writes/deletes, then close without an answer
        self.writes = 0  # writes and deletes applied
        self.puts = 0  # PUT requests received (applied or refused)
        self.lose_requests = 0  # close this many next writes/deletes without applying them
        fake = self

        class Handler(_OciHandler):
            service = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOciObjectStorage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def create_bucket(self, name: str) -> str:
        with self.lock:
            self.buckets.setdefault(name, {})
        return name


class _OciHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    service: FakeOciObjectStorage

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    # -- plumbing

    def _body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if getattr(self, "_drop", False):  # the change is applied; its answer is lost on the way back
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("opc-request-id", uuid.uuid4().hex)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 204:
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = b"" if self.command == "HEAD" else json.dumps({"code": code, "message": message}).encode()
        self._send(status, body)

    def _route(self):
        """(namespace, bucket, object name or None, query) or None for GET /n/."""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segs = parts.path.split("/", 6)  # ['', 'n', ns, 'b', bucket, 'o', name...]
        if parts.path in ("/n", "/n/"):
            return ("", None, None, query)
        if len(segs) >= 6 and segs[1] == "n" and segs[3] == "b" and segs[5] == "o":
            name = unquote(segs[6]) if len(segs) == 7 and segs[6] else None
            return (unquote(segs[2]), unquote(segs[4]), name, query)
        return None

    def _handle(self) -> None:
        body = self._body() if self.command in ("PUT", "POST") else b""
        svc = self.service
        with svc.lock:
            svc.requests += 1
            svc.puts += self.command == "PUT"
        auth = self.headers.get("authorization", "")
        if not auth.startswith("Signature "):
            with svc.lock:
                svc.unsigned_requests += 1
            return self._error(
                401,
                "NotAuthenticated",
                "The required information to complete authentication was not provided.",
            )
        route = self._route()
        if route is None:
            return self._error(404, "NotFound", "There is no operation supported at the URI path")
        ns, bucket, name, query = route
        self._drop = False
        if self.command in ("PUT", "DELETE") and name is not None:
            with svc.lock:
                if svc.lose_requests > 0:  # lost on the way in: nothing applied, no answer
                    svc.lose_requests -= 1
                    self.close_connection = True
                    return None
                if svc.drop_responses > 0:
                    svc.drop_responses -= 1
                    self._drop = True
        if bucket is None:
            if self.command != "GET":
                return self._error(405, "MethodNotAllowed", "method not allowed")
            return self._send(200, json.dumps(svc.namespace).encode())
        if ns != svc.namespace:
            return self._error(
                404,
                "NamespaceNotFound",
                f"You do not have authorization to perform this "
                f"request, or the requested resource could not be "
                f"found. Namespace {ns}",
            )
        with svc.lock:
            objects = svc.buckets.get(bucket)
            if objects is None:
                return self._error(
                    404,
                    "BucketNotFound",
                    f"Either the bucket named '{bucket}' does not exist "
                    f"in the namespace '{ns}' or you are not authorized "
                    "to access it",
                )
            if name is None:
                if self.command != "GET":
                    return self._error(405, "MethodNotAllowed", "method not allowed")
                return self._list(objects, query)
            return self._object(objects, name, body)

    def _list(self, objects: dict[str, _Obj], query: dict[str, str]) -> None:
        prefix = query.get("prefix", "")
        start = query.get("start")
        start_after = query.get("startAfter")
        limit = min(int(query.get("limit") or 1000), 1000)
        names = sorted(
            n
            for n in objects
            if n.startswith(prefix)
            and (start is None or n >= start)
            and (start_after is None or n > start_after)
        )
        page, rest = names[:limit], names[limit:]
        doc = {
            "objects": [{"name": n} for n in page],
            "prefixes": [],
            "nextStartWith": rest[0] if rest else None,
        }
        if doc["nextStartWith"] is None:
            del doc["nextStartWith"]
        self._send(200, json.dumps(doc).encode())

    def _object(self, objects: dict[str, _Obj], name: str, body: bytes) -> None:
        current = objects.get(name)
        if_match = self.headers.get("if-match")
        if_none_match = self.headers.get("if-none-match")
        if self.command == "PUT":
            if if_none_match is not None:
                if if_none_match != "*":
                    return self._error(
                        400, "InvalidParameter", "The only valid value for if-none-match is '*'"
                    )
                if current is not None:
                    return self._error(
                        412,
                        "IfNoneMatchFailed",
                        f"The If-None-Match header is '*' but there is an existing entity named '{name}'",
                    )
            if if_match is not None and (current is None or current.etag != if_match):
                if current is None:
                    return self._error(404, "ObjectNotFound", f"The object '{name}' was not found")
                return self._error(
                    412,
                    "IfMatchFailed",
                    f"The If-Match header '{if_match}' does not match the ETag of the entity '{name}'",
                )
            obj = _Obj(body, self.headers.get("content-type") or "application/octet-stream")
            objects[name] = obj
            self.service.writes += 1
            return self._send(
                200, b"", {"etag": obj.etag, "opc-content-md5": obj.md5, "last-modified": obj.modified}
            )
        if self.command in ("GET", "HEAD"):
            if current is None:
                return self._error(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket")
            headers = {
                "etag": current.etag,
                "opc-content-md5": current.md5,
                "last-modified": current.modified,
            }
            if self.command == "HEAD":
                self.send_response(200)
                self.send_header("opc-request-id", uuid.uuid4().hex)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", current.content_type)
                self.send_header("content-length", str(len(current.data)))
                self.end_headers()
                return None
            return self._send(200, current.data, headers, content_type=current.content_type)
        if self.command == "DELETE":
            if current is None:
                return self._error(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket")
            if if_match is not None and current.etag != if_match:
                return self._error(
                    412,
                    "IfMatchFailed",
                    f"The If-Match header '{if_match}' does not match the ETag of the entity '{name}'",
                )
            del objects[name]
            self.service.writes += 1
            return self._send(204)
        return self._error(405, "MethodNotAllowed", "method not allowed")

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle


# ----------------------------------------------------------------------------- OCI client for tests


def throwaway_oci_client(fake: FakeOciObjectStorage, key_dir: Path):
    """The real ``oci`` SDK client, signing with a freshly generated RSA key, pointed at ``fake``."""
    import oci
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key_path = Path(key_dir) / "oci_api_key.pem"
    if not key_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
    tenancy = "ocid1.tenancy.oc1..aaaaaaaatesttenancy"
    user = "ocid1.user.oc1..aaaaaaaatestuser"
    fingerprint = ":".join(["ab"] * 16)
    config = {
        "tenancy": tenancy,
        "user": user,
        "fingerprint": fingerprint,
        "key_file": str(key_path),
        "region": "us-ashburn-1",
    }
    signer = oci.signer.Signer(tenancy, user, fingerprint, str(key_path))
    return oci.object_storage.ObjectStorageClient(
        config,
        signer=signer,
        service_endpoint=fake.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=(5, 30),
    )


def write_oci_config_file(fake: FakeOciObjectStorage, key_dir: Path) -> Path:
    """An ``~/.oci/config``-style file (profile DEFAULT) with a throwaway key, for config-file auth."""
    client = throwaway_oci_client(fake, key_dir)  # creates the key file
    del client
    path = Path(key_dir) / "oci_config"
    path.write_text(
        "[DEFAULT]\n"
        "user=ocid1.user.oc1..aaaaaaaatestuser\n"
        f"fingerprint={':'.join(['ab'] * 16)}\n"
        f"key_file={Path(key_dir) / 'oci_api_key.pem'}\n"
        "tenancy=ocid1.tenancy.oc1..aaaaaaaatesttenancy\n"
        "region=us-ashburn-1\n"
    )
    return path


# ----------------------------------------------------------------------------- lost answers


class DroppingProxy:
    """A loopback HTTP proxy in front of ``upstream`` (e.g. the moto server) that forwards every request
    and, for the next ``drop_responses`` PUT/DELETE requests, closes the connection instead of passing the
    answer back: the write is applied upstream, the client never hears so (a lost answer)."""

    def __init__(self, upstream: str) -> None:
        import http.client

        self.upstream = urlsplit(upstream)
        self.drop_responses = 0
        self.forwarded_writes = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def _forward(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else None
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                drop = False
                if self.command in ("PUT", "DELETE"):
                    with proxy.lock:
                        proxy.forwarded_writes += 1
                        if proxy.drop_responses > 0:
                            proxy.drop_responses -= 1
                            drop = True
                if drop:
                    self.close_connection = True
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> DroppingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
