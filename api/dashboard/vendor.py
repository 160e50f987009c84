"""Re-vendor htmx: ``python -m api.dashboard.vendor 2.0.11``.

The dashboard's one third-party file, ``static/vendor/htmx.min.js``, is committed with
its licence and a manifest of checksums (a test checks the files against it), so that a
``pip install`` serves the dashboard with no Node, no CDN and no network. Pin an exact
2.0.x: htmx 2 is supported indefinitely, and 4.x changes its attributes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from api.docs.vendor import Package, main

HTMX = Package(
    "htmx.org",
    ("dist/htmx.min.js", "LICENSE"),
    Path(__file__).resolve().parent / "static" / "vendor",
)

if __name__ == "__main__":
    sys.exit(main(prog="python -m api.dashboard.vendor", package=HTMX, example="2.0.11"))
