"""The page and its assets: public, like ``/openapi.json`` itself."""

from __future__ import annotations

import falcon

from api.docs.assets import Asset, render_page

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

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, fingerprint: str, name: str
    ) -> None:
        asset = self.assets.get(name)
        if asset is None or fingerprint != asset.fingerprint:
            raise falcon.HTTPNotFound()
        resp.cache_control = ["public", f"max-age={ONE_YEAR}", "immutable"]
        resp.etag = asset.fingerprint
        if any(str(tag) == asset.fingerprint for tag in req.if_none_match or ()):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = asset.content_type
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.data = asset.body

    on_head = on_get
