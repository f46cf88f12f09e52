"""Sending e-mail over SMTP (``CALLCREDIT_SMTP_URL``).

URLs: ``smtp://host:port`` (plain, port 25 by default),
``smtp+starttls://host:587`` (upgraded with STARTTLS) and
``smtps://host:465`` (TLS from the start); ``user:password@`` logs in.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from callcredit.domain.errors import InvalidInput, MailUnavailable
from callcredit.services.ports import Mail

_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class SmtpMailer:
    """One SMTP connection per message: e-mails are few and rare."""

    def __init__(self, url: str, sender: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _PORTS or not parts.hostname:
            raise InvalidInput(
                "CALLCREDIT_SMTP_URL must look like smtp://host:port "
                "(or smtp+starttls://, smtps://)"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or _PORTS[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpMailer({self.scheme}://{self.host}:{self.port})"

    def message(self, mail: Mail) -> EmailMessage:
        """The MIME message for ``mail`` (UTF-8 plain text)."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = mail.recipient
        msg["Subject"] = mail.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = f"<{mail.message_id}@callcredit>"
        msg.set_content(mail.body)
        return msg

    def send(self, mail: Mail) -> None:
        msg = self.message(mail)
        try:
            if self.scheme == "smtps":
                context = ssl.create_default_context()
                with smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                ) as smtp:
                    self._deliver(smtp, msg)
            else:
                with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                    if self.scheme == "smtp+starttls":
                        smtp.starttls(context=ssl.create_default_context())
                    self._deliver(smtp, msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(
                f"mail server {self.host}:{self.port}: {type(exc).__name__}: {exc}"
            ) from None

    def _deliver(self, smtp: smtplib.SMTP, msg: EmailMessage) -> None:
        if self.username and self.password:
            smtp.login(self.username, self.password)
        smtp.send_message(msg)
