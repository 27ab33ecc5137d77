"""Words the specs share instead of typing them: placeholders filled from settings when a page or payload is made."""

from __future__ import annotations


def fill(text: str, *, timezone: str) -> str:
    """`{timezone}` in a card, dashboard or text block becomes the reporting time zone's name."""
    return text.replace("{timezone}", timezone)
