"""Bearer tokens for the data views: with `STREAMPROC_WEB_TOKEN` set, a view that shows lead
data answers 401 unless the request carries `Authorization: Bearer <token>`."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from faust.web import Request, Response, View
from pydantic import SecretStr

Handler = Callable[..., Awaitable[Response]]


class BearerGuard:
    """Checks requests against the token, if one is set (none: every request passes)."""

    def __init__(self, token: SecretStr | None) -> None:
        self._expected = token.get_secret_value().encode() if token is not None else None

    def allows(self, request: Request) -> bool:
        if self._expected is None:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # The scheme's name is case-insensitive (RFC 7235); the token is compared in
        # constant time.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._expected
        )

    def __call__(self, handler: Handler) -> Handler:
        """Decorate a view's method: 401, without calling it, unless the token is given."""

        @functools.wraps(handler)
        async def guarded(view: View, request: Request, *args: Any, **kwargs: Any) -> Response:
            if not self.allows(request):
                return view.error(
                    401,
                    "this view needs 'Authorization: Bearer <token>' (STREAMPROC_WEB_TOKEN)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await handler(view, request, *args, **kwargs)

        return guarded
