"""The operator dashboard at ``/ui``: server-rendered pages (Jinja2) with htmx, served by
the API process itself (DESIGN.md, Dashboard).

Its templates and static files are package data, and htmx is vendored from npm with its
checksums (``static/vendor``; ``python -m api.dashboard.vendor VERSION`` upgrades it),
so a ``pip install`` serves it with no Node, no CDN and no request to any other origin.
``CHRONOS_UI_ENABLED=false`` leaves it out; ``CHRONOS_UI_READ_ONLY=true`` hides its
controls and refuses its posts (403). The routes are added by :mod:`api.dashboard.routes`.
"""
