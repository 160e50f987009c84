"""``GET /docs``: the interactive API reference (Swagger UI) over ``/openapi.json``.

Swagger UI is vendored from its npm package (``static/swagger-ui``, with its licence and
a manifest of checksums; ``python -m api.docs.vendor VERSION`` upgrades it), so the page
works offline and behind a strict Content-Security-Policy: nothing is loaded from any
other origin, and no script or style is inline.
"""

from __future__ import annotations

from typing import Any

import falcon

from api.docs.assets import STATIC_PREFIX, load_assets
from api.docs.resources import DocsAsset, DocsPage


def add_docs_routes(app: falcon.App[Any, Any]) -> None:
    assets = load_assets()
    app.add_route("/docs", DocsPage(assets))
    app.add_route(STATIC_PREFIX + "/{fingerprint}/{name}", DocsAsset(assets))
