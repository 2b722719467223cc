"""The review console's files: served by the gateway under a strict CSP, nothing from another
origin, no inline script, no HTML sinks (issue 18). The browser tests are in tests/e2e/test_console.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.console import SECURITY_HEADERS
from gateway.console.files import STATIC_DIR
from gateway.maintenance.initialize import initialize

REPO = Path(__file__).resolve().parents[2]
STATIC_FILES = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())


@pytest.fixture(scope="module")
def make_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., TestClient]]:
    """Gateways on fresh data directories, made once per module: the console needs no database rows."""
    clients: list[TestClient] = []

    def factory(**overrides: object) -> TestClient:
        values: dict[str, object] = {"data_dir": tmp_path_factory.mktemp("console") / "var", "id": "gateway.test",
                                     "_env_file": None} | overrides
        settings = Settings(**values)  # type: ignore[arg-type]
        initialize(settings)
        client = TestClient(create_app(settings), base_url="http://127.0.0.1")
        clients.append(client.__enter__())
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in directives, f"directive {name} given twice"
        directives[name] = values
    return directives


def test_console_index_is_served_with_a_strict_csp_and_security_headers(client: TestClient) -> None:
    response = client.get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = csp_directives(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["require-trusted-types-for"] == ["'script'"]
    every_source = " ".join(v for values in csp.values() for v in values)
    assert "unsafe" not in every_source and "*" not in every_source and "http" not in every_source
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize("name", STATIC_FILES)
def test_every_console_file_is_served_with_its_type_and_the_headers(client: TestClient, name: str) -> None:
    response = client.get(f"/console/{name}")
    assert response.status_code == 200, name
    assert response.content == (STATIC_DIR / name).read_bytes()
    expected = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}[Path(name).suffix]
    assert response.headers["content-type"].split(";")[0] == expected
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value, (name, header)


def test_console_answers_unknown_names_traversal_and_other_methods_without_a_file(client: TestClient) -> None:
    for path in ("/console/nope.js", "/console/%2e%2e/app.py", "/console/..%2fapp.py", "/console/static/app.js",
                 "/console/app.js/", "/console/.hidden", "/console/index.html%00.js"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["x-content-type-options"] == "nosniff", path
    assert client.get("/console/../gateway.db").status_code == 404  # the client resolves it to /gateway.db
    assert client.post("/console/app.js").status_code == 405
    moved = client.get("/console", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/console/")


def test_console_supports_head_and_revalidation(client: TestClient) -> None:
    first = client.get("/console/app.js")
    head = client.head("/console/app.js")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))
    again = client.get("/console/app.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_console_can_be_switched_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(console=False)
    assert client.get("/console/").status_code == 404
    assert client.get("/console/app.js").status_code == 404


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.references: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.problems += [f"<{tag} {name}=…> is an inline handler" for name in names if name.startswith("on")]
        if "style" in names:
            self.problems.append(f"<{tag} style=…> is an inline style")
        if tag == "style":
            self.problems.append("<style> is an inline style")
        if tag == "script":
            if not names.get("src"):
                self.problems.append("<script> without src is an inline script")
            self._in_script = True
        self.references += [value for name, value in attrs if name in {"src", "href", "action"} and value]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = tag != "script" and self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("a <script> element has inline content")


def test_index_has_no_inline_script_or_style_and_references_only_its_own_files() -> None:
    markup = _Markup()
    markup.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert markup.problems == []
    for reference in markup.references:
        assert reference.startswith("#") or reference in STATIC_FILES, reference


# Anything that would load from elsewhere, run a string as code or write markup.
_FORBIDDEN = re.compile(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}|\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|"
                        r"document\.write|\beval\(|new Function|setTimeout\(\s*[\"'`]|@import|\burl\(")


@pytest.mark.parametrize("name", [n for n in STATIC_FILES if n.endswith((".js", ".css"))])
def test_console_code_loads_nothing_from_elsewhere_and_writes_no_markup(name: str) -> None:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert _FORBIDDEN.findall(text) == []
    for module in re.findall(r"""^\s*import\b[^"']*["']([^"']+)["']""", text, flags=re.M):
        assert module.startswith("./") and module[2:] in STATIC_FILES, (name, module)
    assert "import(" not in text, "no dynamic imports: every module is listed statically"


def test_console_files_ship_in_the_package() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"console/static/*"' in pyproject
    assert {"index.html", "app.js", "style.css"} <= set(STATIC_FILES)
