"""The page and its assets: public, like ``/openapi.json`` itself."""

from __future__ import annotations

import gzip

import falcon

from api.docs.assets import CSS, JAVASCRIPT, Asset, render_page

# What Swagger UI needs and no more: its own script and styles, the document and
# try-it-out requests (same origin), and the data: images its stylesheet embeds.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
ONE_YEAR = 365 * 24 * 3600
# The bundle is 1.7 MB as text and a quarter of that gzipped; PNGs gain nothing.
COMPRESSIBLE = {JAVASCRIPT, CSS}


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip;q=0`` refuses it)."""
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() not in {"gzip", "x-gzip"}:
            continue
        weight = params.replace(" ", "").lower()
        if not weight.startswith("q="):
            return True
        try:
            return float(weight[2:]) > 0
        except ValueError:
            return False
    return False


class DocsPage:
    auth_required = False

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.html = render_page(assets)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/html; charset=utf-8"
        resp.data = self.html
        # The page names the current assets' URLs: always ask again.
        resp.cache_control = ["no-cache"]
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Referrer-Policy", "no-referrer")

    on_head = on_get


class DocsAsset:
    auth_required = False

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets
        # Compressed on first request, once per process: start-up stays cheap.
        self.gzipped: dict[str, bytes] = {}

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, fingerprint: str, name: str
    ) -> None:
        asset = self.assets.get(name)
        if asset is None or fingerprint != asset.fingerprint:
            raise falcon.HTTPNotFound()
        compress = asset.content_type in COMPRESSIBLE
        use_gzip = compress and accepts_gzip(req.get_header("Accept-Encoding"))
        resp.cache_control = ["public", f"max-age={ONE_YEAR}", "immutable"]
        # Each encoding is its own representation, with its own entity tag.
        tag = f"{asset.fingerprint}-gzip" if use_gzip else asset.fingerprint
        resp.etag = tag
        if compress:
            resp.vary = ["Accept-Encoding"]
        if any(str(sent) == tag for sent in req.if_none_match or ()):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = asset.content_type
        resp.set_header("X-Content-Type-Options", "nosniff")
        if use_gzip:
            resp.set_header("Content-Encoding", "gzip")
            resp.data = self._gzipped(asset)
        else:
            resp.data = asset.body

    on_head = on_get

    def _gzipped(self, asset: Asset) -> bytes:
        body = self.gzipped.get(asset.name)
        if body is None:  # two threads may both compress; either result is the same
            body = gzip.compress(asset.body, mtime=0)
            self.gzipped[asset.name] = body
        return body
