"""The channels a report or an alert leaves by: e-mail over SMTP (HTML body, plain-text part, PDF attached) and a
generic webhook (one JSON POST, for chat tools)."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from orchestration.settings import Smtp


class SendError(RuntimeError):
    """A message the server refused or could not take; the reason in one line."""


def email(
    smtp: Smtp,
    to: str,
    subject: str,
    html_body: str,
    text_body: str,
    pdf: bytes | None = None,
    pdf_name: str = "report.pdf",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = smtp.sender, to, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=smtp.sender.split("@", 1)[1])
    msg.set_content(text_body)
    msg.add_alternative(html_body, subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    return msg


def send_email(smtp: Smtp, msg: EmailMessage, timeout: float = 30) -> None:
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            if smtp.user:
                server.login(smtp.user, smtp.password or "")
            server.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        reason = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        raise SendError(f"SMTP {exc.smtp_code}: {reason}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        raise SendError(f"SMTP {code}: {reason.decode(errors='replace')}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from None


def post_webhook(url: str, payload: dict, timeout: float = 15) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload, default=str).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status >= 300:
                raise SendError(f"webhook answered {response.status}")
    except OSError as exc:
        raise SendError(f"webhook: {exc}") from None
