"""The web console's page and assets (the files of ``ui/`` beside this module), served by the registry
function at ``GET /ui/`` and ``GET /ui/{name}`` (``/ui/vendor/{name}`` for the vendored chart library).

Only files that exist in ``ui/`` when the site is first asked for are served, by a name checked against one
segment of letters, digits, ``._-`` and a known extension: no path is ever built from the request, so
``..`` or an encoded slash has nothing to walk. Every answer carries a strict Content-Security-Policy (no
inline script or style, no other origin), ``nosniff``, an ETag (a ``304`` for ``If-None-Match``) and
``Cache-Control: no-cache`` (the names carry no hash, so the browser revalidates; a 304 is a few bytes).
The page is public; every piece of data comes from JSON routes behind the authorizer.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mlops.errors import BadRequestError, NotFoundError
from mlops.http import Request, Response, Router

UI_DIR = Path(__file__).with_name("ui")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.[a-z]+\Z")


class StaticSite:
    """The files of one directory (and its ``vendor/``), read once, each with its type and ETag."""

    def __init__(self, root: Path = UI_DIR) -> None:
        self.root = root
        self._files: dict[str, tuple[bytes, str, str]] | None = None

    def files(self) -> dict[str, tuple[bytes, str, str]]:
        if self._files is None:
            found: dict[str, tuple[bytes, str, str]] = {}
            for sub in ("", "vendor/"):
                folder = self.root / sub if sub else self.root
                for path in sorted(folder.glob("*")) if folder.is_dir() else []:
                    ctype = CONTENT_TYPES.get(path.suffix)
                    if ctype and path.is_file() and _NAME.match(path.name):
                        data = path.read_bytes()
                        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
                        found[sub + path.name] = (data, ctype, etag)
            self._files = found
        return self._files

    def serve(self, request: Request, key: str) -> Response:
        name = key.rsplit("/", 1)[-1]
        if not _NAME.match(name):
            raise BadRequestError(f"not a console file name: {name[:80]!r}", code="invalid_name")
        found = self.files().get(key)
        if found is None:
            raise NotFoundError(f"the console has no file {key!r}", code="asset_not_found")
        data, ctype, etag = found
        headers = {**SECURITY_HEADERS, "etag": etag, "content-type": ctype}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(b"", status=304, headers=headers)
        return Response(data, headers=headers)


def add_console_routes(router: Router, site: StaticSite | None = None) -> StaticSite:
    """``GET /ui`` (a redirect to ``ui/``, so relative asset and API paths resolve under any gateway
    prefix), ``GET /ui/`` (the page), ``GET /ui/{name}`` and ``GET /ui/vendor/{name}``."""
    site = site or StaticSite()

    def page(request: Request) -> Response:
        if not request.path.endswith("/"):
            return Response(b"", status=308, headers={**SECURITY_HEADERS, "location": "ui/"})
        return site.serve(request, "index.html")

    router.add("GET", "/ui", page)
    router.add("GET", "/ui/{name}", lambda r: site.serve(r, r.path_params["name"]))
    router.add("GET", "/ui/vendor/{name}", lambda r: site.serve(r, "vendor/" + r.path_params["name"]))
    return site
