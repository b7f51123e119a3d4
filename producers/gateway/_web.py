"""The web app (``web/``, React built by Vite into ``web/dist``) served by the gateway at ``/``.

The app's files are public: they hold no data, and the app itself asks for sign-in (every
``/v1`` route stays behind the guard of decision 0110). They are served by plain Starlette
routes appended after every API route, outside the app-level dependency:

- ``/`` and each client route (``/chat``, ``/ops/tail``... the first path segments in
  :data:`CLIENT_SECTIONS`) answer ``index.html``, so a deep link or a reload works (the SPA
  fallback); other paths stay 404 and a wrong method on an API route stays 405;
- ``/assets/*`` are Vite's content-hashed files, cached for a year;
- without a build (``web/dist/index.html`` missing) those pages answer 503 with how to build it.

Every page carries a strict Content-Security-Policy (scripts and connections to this origin
only) and is never framed (decision 0158).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Final

import anyio
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DEFAULT_DIST: Final = Path(__file__).resolve().parents[2] / "web" / "dist"
"""Where ``make web`` (``npm run build`` in ``web/``) writes the app."""

CLIENT_SECTIONS: Final = ("signin", "chat", "rules", "alerts", "prices", "search", "chain", "ops")
"""The first path segment of every client route of the app (``web/src/App.tsx``)."""

TOP_FILES: Final = ("favicon.svg",)
"""Files at the top of ``web/dist`` (from ``web/public``) served as they are."""

CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # Mantine sets style attributes (style props, CSS variables) at run time.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
IMMUTABLE: Final = "public, max-age=31536000, immutable"

MISSING_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Impressox: the web app is not built</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;
color:#212529}}code,pre{{background:#f1f3f5;border-radius:6px;padding:.1rem .3rem}}
pre{{padding:.8rem}}</style></head>
<body><h1>The web app is not built</h1>
<p>The gateway serves the web app from <code>{dist}</code>, which has no
<code>index.html</code>. Build it (Node.js 20 and npm), then reload this page:</p>
<pre>make web</pre>
<p>or by hand: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.
<code>make up</code> builds it too. The API works without it: see <a href="/docs">/docs</a>.</p>
</body></html>
"""


class _Assets(StaticFiles):
    """Vite's hashed files: cached for good (a new build has new names)."""

    async def check_config(self) -> None:
        """No build yet is a 404 per file (the pages say how to build), not a server error."""
        if self.directory is not None and await anyio.Path(self.directory).is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _index_endpoint(dist: Path) -> Route:
    index = dist / "index.html"
    missing = MISSING_PAGE.format(dist=html.escape(str(dist)))

    async def page(_: Request) -> Response:
        if not await anyio.Path(index).is_file():
            return HTMLResponse(missing, status_code=503, headers=PAGE_HEADERS)
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    return Route("/", page, methods=["GET"], include_in_schema=False)


def _top_file(dist: Path, name: str) -> Route:
    async def top_file(_: Request) -> Response:
        path = dist / name
        if not await anyio.Path(path).is_file():
            return Response(status_code=404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    return Route(f"/{name}", top_file, methods=["GET"], include_in_schema=False)


def web_routes(dist: Path = DEFAULT_DIST) -> list[Route | Mount]:
    """The routes serving the app in ``dist``: the pages, the top files and ``/assets``."""
    index = _index_endpoint(dist)
    routes: list[Route | Mount] = [index]
    for section in CLIENT_SECTIONS:
        for path in (f"/{section}", f"/{section}/{{rest:path}}"):
            routes.append(Route(path, index.endpoint, methods=["GET"], include_in_schema=False))
    routes.extend(_top_file(dist, name) for name in TOP_FILES)
    routes.append(
        Mount("/assets", app=_Assets(directory=dist / "assets", check_dir=False), name="assets")
    )
    return routes


def install_web(app: FastAPI, dist: Path = DEFAULT_DIST) -> None:
    """Serve the web app at ``/``: call it last, after every API route (they match first)."""
    app.router.routes.extend(web_routes(dist))
