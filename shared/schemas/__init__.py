"""The HTTP contract's shapes, written once.

Each request body and each response is a pydantic model here. The same models validate
requests (:mod:`shared.validation` adds only the rules a schema cannot say, such as "no
more than 5 minutes in the past"), serialise responses (``api/serialize.py``) and supply
``components.schemas`` of the OpenAPI document (``api/openapi.py``), so the document
cannot say one thing while the API does another.

Field types come from :mod:`shared.schemas.fields`: each one checks its value in Python
with the contract's own wording (``must be between 0 and 9``) and states the same
bounds to JSON Schema, from the same arguments.
"""
