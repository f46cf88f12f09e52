"""The web session: a cookie signed with the secret key (itsdangerous),
holding the CSRF token, who is signed in and a one-shot message.

The cookie is ``HttpOnly`` and ``SameSite=Lax``, and ``Secure`` when the page
was served over HTTPS. A cookie whose signature does not check out, or that is
older than :data:`MAX_AGE`, is ignored: the visitor is simply signed out.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "cc_session"
LANGUAGE_COOKIE = "cc_lang"
MAX_AGE = 12 * 3600
_SALT = "callcredit.web.session"


@dataclass
class Session:
    """What the session cookie carries."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    account_id: str | None = None
    email: str | None = None
    fingerprint: str | None = None
    flash: list[Any] | None = None
    dirty: bool = False

    def sign_in(self, account_id: str, email: str, fingerprint: str) -> None:
        """Bind the session to an administrator, with a fresh CSRF token."""
        self.csrf = secrets.token_urlsafe(24)
        self.account_id, self.email, self.fingerprint = account_id, email, fingerprint
        self.dirty = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.account_id = self.email = self.fingerprint = None
        self.flash = None
        self.dirty = True

    def say(self, kind: str, message: str, **values: str) -> None:
        """Leave a message for the next page (``kind``: ok, error)."""
        self.flash = [kind, message, values]
        self.dirty = True

    def take_flash(self) -> tuple[str, str, dict[str, str]] | None:
        if not self.flash:
            return None
        kind, message, values = self.flash
        self.flash = None
        self.dirty = True
        return str(kind), str(message), {str(k): str(v) for k, v in dict(values).items()}

    def csrf_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def load(request: Request, secret: str) -> Session:
    """The request's session; a new anonymous one when the cookie is missing,
    expired or tampered with."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return Session(dirty=True)
    try:
        data = _serializer(secret).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return Session(dirty=True)
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return Session(dirty=True)
    return Session(
        csrf=data["c"],
        account_id=_text(data.get("a")),
        email=_text(data.get("e")),
        fingerprint=_text(data.get("f")),
        flash=data.get("m") if isinstance(data.get("m"), list) else None,
    )


def save(response: Response, request: Request, session: Session, secret: str) -> None:
    """Write the session cookie onto ``response`` when it changed."""
    if not session.dirty:
        return
    payload = {"c": session.csrf, "a": session.account_id, "e": session.email,
               "f": session.fingerprint, "m": session.flash}  # fmt: skip
    response.set_cookie(
        COOKIE,
        _serializer(secret).dumps(payload),
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
