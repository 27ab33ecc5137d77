"""What reaches the terminal: data values (a lead's name, a campaign title) may hold escape sequences that
would move the cursor, retitle the window or hide text; every line the CLI prints goes through `clean`."""

from __future__ import annotations

import re
from typing import TextIO

# C0 controls except tab and newline, DEL, and the C1 controls (U+0080-U+009F, which include the 8-bit CSI)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """`text` with each control character shown as its escape (`\\x1b`), so nothing is executed by the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


class CleanStream:
    """A text stream that writes through `clean` (wraps sys.stdout / sys.stderr for one command)."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(clean(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
