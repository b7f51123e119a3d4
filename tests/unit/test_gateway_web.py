"""The gateway serving the web app (``producers/gateway/_web.py``): pages and assets public, the
SPA fallback for client routes only (no catch-all over the API), a missing build explained,
strict headers on every page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from infra.settings import Settings
from producers.gateway import create_app
from producers.gateway._web import IMMUTABLE, install_web, web_routes

INDEX = '<!doctype html><html><body><div id="root"></div></body></html>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text(INDEX)
    (built / "assets" / "index-abc123.js").write_text("console.log(1)")
    (built / "favicon.svg").write_text("<svg/>")
    return built


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def gateway(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app (no lifespan: nothing here reaches Kafka or MongoDB), its web
    routes pointed at the test's build."""
    app = create_app(Settings(kafka_bootstrap="127.0.0.1:9", mongodb_url="mongodb://127.0.0.1:9"))
    del app.router.routes[-len(web_routes()) :]  # install_web's, last: the repository's build
    install_web(app, dist)
    async for client in client_for(app):
        yield client


@pytest.mark.parametrize("path", ["/", "/chat", "/rules", "/ops/tail", "/ops/trace", "/signin"])
async def test_client_routes_answer_the_app_without_credentials(
    gateway: httpx.AsyncClient, path: str
) -> None:
    response = await gateway.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"


async def test_hashed_assets_are_cached_for_good(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log(1)"
    assert response.headers["cache-control"] == IMMUTABLE
    assert (await gateway.get("/assets/missing.js")).status_code == 404
    assert (await gateway.get("/assets/../index.html")).status_code == 404
    assert (await gateway.get("/favicon.svg")).status_code == 200


async def test_unknown_paths_stay_404_and_wrong_methods_405(gateway: httpx.AsyncClient) -> None:
    """No catch-all: an unknown API path is FastAPI's JSON 404, not the app; the pages are
    not in the OpenAPI document (tests/integration/test_gateway_access walks it: every /v1
    route there still answers 401 without credentials)."""
    unknown = await gateway.get("/v1/no-such-route")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/json"
    assert (await gateway.get("/not-a-client-route")).status_code == 404
    assert (await gateway.put("/v1/rules")).status_code == 405
    assert (await gateway.post("/chat")).status_code == 405
    openapi = (await gateway.get("/openapi.json")).json()
    assert not any(p == "/" or p.startswith(("/chat", "/ops", "/assets")) for p in openapi["paths"])


async def test_a_missing_build_says_how_to_make_it(tmp_path: Path) -> None:
    app = FastAPI()
    install_web(app, tmp_path / "nothing")
    async for client in client_for(app):
        response = await client.get("/chat")
        assert response.status_code == 503
        assert "make web" in response.text
        assert "npm ci" in response.text
        assert (await client.get("/assets/index.js")).status_code == 404
