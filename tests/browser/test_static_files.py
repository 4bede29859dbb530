"""The console's static files through a real Router and the function's error renderer (no browser)."""

from __future__ import annotations

import json
import re

import pytest
from mlops.console.static import CSP, UI_DIR, StaticSite, add_console_routes
from mlops.function import dispatch
from mlops.http import Request, Router


@pytest.fixture(scope="module")
def router():
    r = Router()
    add_console_routes(r)
    return r


def get(router, path, headers=None):
    return dispatch(router, Request.from_url("GET", path, headers or {}))


def test_the_page_and_its_assets_have_their_types_and_security_headers(router):
    for path, ctype in (
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/favicon.svg", "image/svg+xml"),
        ("/ui/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/ui/vendor/uPlot.min.css", "text/css"),
    ):
        resp = get(router, path)
        assert resp.status == 200, (path, resp.body)
        assert resp.content_type().startswith(ctype), path
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["content-security-policy"] == CSP
        assert resp.headers["cache-control"] == "no-cache"
        assert re.fullmatch(r'"[0-9a-f]{20}"', resp.headers["etag"])
    assert "default-src 'self'" in CSP and "unsafe-inline" not in CSP and "unsafe-eval" not in CSP


def test_every_module_the_page_imports_is_served(router):
    """The page's own ES modules: each import names a file the site serves (one missing = a blank page)."""
    page = get(router, "/ui/").body.decode()
    wanted = set(re.findall(r'(?:src|href)="([^"#:]+)"', page))
    for name in [p.name for p in UI_DIR.glob("*.js")]:
        wanted |= set(re.findall(r"from '\./([^']+)'", (UI_DIR / name).read_text()))
    assert {"app.js", "api.js", "vendor/uPlot.iife.min.js"} <= wanted
    for name in wanted:
        assert get(router, f"/ui/{name}").status == 200, name


def test_the_page_has_no_inline_script_or_style(router):
    page = get(router, "/ui/").body.decode()
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag, tag
    assert re.search(r"<style\b|\sstyle=|\son[a-z]+=", page) is None


def test_ui_without_slash_redirects_so_relative_paths_resolve(router):
    resp = get(router, "/ui")
    assert resp.status == 308 and resp.headers["location"] == "ui/"


def test_if_none_match_answers_304_without_a_body(router):
    etag = get(router, "/ui/app.js").headers["etag"]
    resp = get(router, "/ui/app.js", {"If-None-Match": etag})
    assert resp.status == 304 and resp.encode() == b"" and resp.headers["etag"] == etag
    assert get(router, "/ui/app.js", {"If-None-Match": '"other"'}).status == 200


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/ui/nope.js", 404, "asset_not_found"),
        ("/ui/static.py", 404, "asset_not_found"),  # beside the files, not one of them
        ("/ui/vendor/LICENSE", 400, "invalid_name"),  # in the package, but not a served type
        ("/ui/..%2Fstatic.py", 400, "invalid_name"),
        ("/ui/%2e%2e", 400, "invalid_name"),
        ("/ui/.hidden.js", 400, "invalid_name"),
        ("/ui/../static.py", 404, "route_not_found"),
        ("/ui/vendor/../../static.py", 404, "route_not_found"),
        ("/ui/a/b/c.js", 404, "route_not_found"),
    ],
)
def test_traversal_and_unknown_files_get_our_error_body(router, path, status, code):
    resp = get(router, path)
    assert resp.status == status, (path, resp.body)
    err = json.loads(resp.encode())["error"]
    assert err["code"] == code and err["request_id"] and err["message"]


def test_a_site_over_another_folder_serves_only_known_types(tmp_path):
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secret.key").write_text("x")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "lib.js").write_text("1")
    site = StaticSite(tmp_path)
    assert sorted(site.files()) == ["index.html", "vendor/lib.js"]
    r = Router()
    add_console_routes(r, site)
    assert get(r, "/ui/").body == b"<p>hi</p>"
    assert get(r, "/ui/secret.key").status == 404  # there, but not a type the site serves
