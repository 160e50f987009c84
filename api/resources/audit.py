"""The audit log, for admins: every change, newest first, filtered and paged."""

from __future__ import annotations

import falcon

from api import serialize
from api.resources.base import Resource, current_user
from shared.errors import Forbidden
from shared.repository import audit as audit_repo
from shared.schemas.queries import AuditFilters
from shared.validation import parse_body

# One listing for every admin: a cursor is good for any of them, and for no other list.
SCOPE = "audit"


class AuditLog(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not current_user(req).is_admin:
            raise Forbidden("only an admin may read the audit log")
        query: AuditFilters = parse_body(AuditFilters, req.params)
        pages = serialize.cursors(self.settings.jwt_secret, SCOPE, column="at")
        after = pages.after(query.cursor)
        with self.transaction(req) as conn:
            rows = audit_repo.list_events(
                conn, filters=query.filters(), limit=query.limit + 1, after=after
            )
        serialize.respond(resp, serialize.audit_page(rows, query.limit, pages))
