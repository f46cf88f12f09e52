"""Security headers on every answer (pure ASGI, so it costs the PBX API
next to nothing).

Pages get a Content Security Policy that allows only this site's own
scripts, styles, images and form targets, and no framing (clickjacking);
other answers (JSON, CSV) get a policy that allows nothing at all. Every
answer says ``nosniff``, ``DENY`` for frames and sends no referrer to other
sites.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# style-src-attr: the activity chart's legend colours its swatches inline.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's interactive API documentation loads its viewer from a CDN.
API_DOCS = ("/docs", "/redoc")
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                )
                policy = PAGE_POLICY if html else OTHER_POLICY
                extra = list(COMMON)
                if not str(scope.get("path", "")).startswith(API_DOCS):
                    extra.append((b"content-security-policy", policy.encode()))
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
