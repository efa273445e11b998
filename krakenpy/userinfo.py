"""Masking a URL's user information (``scheme://user:password@host``) in any text krakenpy writes.

The rule never shows a password, whatever characters it holds. Parsers disagree on where the
authority of ``http://ada:pa/ss@host`` ends: Go's ``url.Parse`` and WHATWG stop it at the first
``/``, ``?`` or ``#`` (host ``ada:pa``, path ``/ss@host``) and reject whitespace, while an operator
who wrote that host meant ``pa/ss`` as a password. A mask that follows either parser leaves ``ss``
(or, for ``?``, ``#`` and spaces, the whole password) in the log, the span, the error answer.

So the *authority candidate* of a text's ``scheme://`` runs to the end of its line (``\\n`` or
``\\r``), and everything between ``://`` and the candidate's **last** ``@`` is user information:

- ``http://ada:pa/ss w#?@h:8/x`` → ``http://REDACTED:REDACTED@h:8/x``;
- ``@`` and quotes in a password are covered (the last ``@`` wins, as in Go's ``url.Parse``);
- the price: a text with an ``@`` after a URL on the same line is masked up to that ``@``
  (``http://h/users/a@b`` → ``http://REDACTED:REDACTED@b``, ``GET http://h/x failed for bob@corp``
  → ``GET http://REDACTED:REDACTED@corp``): the host and path are lost for triage, no secret shows;
- an ``@`` before the first ``://`` of its line (``mail a@b at http://h/x``) is left alone; after a
  ``://`` followed by whitespace the mask starts at the next ``://`` of the line that none follows
  (``an amqp:// URL, got amqp://u:p@h``), or, without one, after the last ``://`` before the first
  ``:`` that no ``//`` follows, when one lies before the ``@`` (``http:// ada:pw@h``: a password),
  else nowhere (``an amqp:// or amqps:// URL, got a@b``: the only ``:`` is a scheme's).
- a password broken over lines (``http://ada:pa\\nss@h``): when the line of a ``://`` holds no ``@``
  and, after it, no whitespace and a ``:``, the candidate runs on over the next lines that hold no
  whitespace to the last ``@`` of the first one with an ``@`` before its first whitespace; the price:
  ``http://h:80`` ending a line and ``bob@corp`` starting the next are masked as one
  (``http://REDACTED:REDACTED@corp``). A password holding both a line break and whitespace
  (``pa\\nss w``) is not found.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["mask_url", "mask_userinfo", "password_of"]

#: a URL's scheme, its ``://`` and any blanks after it, at the start of one URL (:func:`mask_url`): any
#: run of characters but whitespace, ``:``, ``/`` and ``@`` (``1http://`` too, which RFC 3986 refuses:
#: it can still hold a password). In a text, the mask looks for ``://`` alone
_SCHEME: Final = re.compile(r"[^\s:/@]*://[^\S\n\r]*")


#: a line's end: one search for either (a ``find`` of ``\n`` first ran to the text's end when only
#: ``\r`` ends its lines, once per line: quadratic)
_EOL: Final = re.compile(r"[\r\n]")


def _line_end(text: str, start: int) -> int:
    """Where the line holding ``start`` ends (``\\n`` or ``\\r``; the text's length for its last)."""
    found = _EOL.search(text, start)
    return len(text) if found is None else found.start()


_BLANK: Final = re.compile(r"\s")


def _broken_at(text: str, start: int, line_end: int) -> tuple[int, int]:
    """A password broken over lines (``http://ada:pa\\nss@h``): when the line of the ``://`` that
    ends at ``start`` holds no ``@`` and, from there, no whitespace and a ``:`` (a user and the start
    of a password), the last ``@`` of the first next line whose text before its first whitespace holds
    one, the lines between holding no whitespace; and where the search goes on: past that line, or
    at the line that ended it (no ``@`` before its first whitespace), whose ``://`` may hold a
    password of its own. ``(-1, where)`` without one."""
    if ":" not in text[start:line_end] or _BLANK.search(text, start, line_end) is not None:
        return -1, line_end
    size = len(text)
    while line_end < size:
        nxt = line_end + 2 if text.startswith("\r\n", line_end) else line_end + 1
        end = _line_end(text, nxt)
        blank = _BLANK.search(text, nxt, end)
        stop = end if blank is None else blank.start()
        if text.find("@", nxt, stop) >= 0:
            return text.rfind("@", nxt, end), end
        if blank is not None:
            return -1, nxt
        line_end = end
    return -1, size


def _user_start(text: str, start: int, at: int) -> int:
    """Where the user information ending at ``at`` starts, for a ``://`` that ends at ``start``:
    there, unless whitespace follows it (prose, ``an amqp:// URL``): then at the next ``://`` before
    ``at`` that no whitespace follows, or, without one, after the last ``://`` before the first ``:``
    that no ``//`` follows (``http:// ada:pw@h``: a password; the ``:`` of ``or amqps:// URL, got
    a@b`` is a scheme's), else -1 (no password: nothing to mask)."""
    first = start
    while start < at and text[start].isspace():
        found = text.find("://", start, at)
        if found < 0:
            colon = text.find(":", first, at)
            while colon >= 0 and text.startswith("//", colon + 1):
                colon = text.find(":", colon + 3, at)
            if colon < 0:
                return -1
            return text.rfind("://", first - 3, colon) + 3
        start = found + 3
    return start


def mask_userinfo(text: str, *, keep_user: bool = False) -> str:
    """``text`` with the user information of every ``scheme://…@`` masked by the module's rule.

    ``keep_user=False`` (the telemetry redactor): ``REDACTED:REDACTED@``. ``keep_user=True`` (what
    ``check`` prints, Go's ``url.Redacted`` form): the user up to the first ``:`` stays and only the
    password is masked, ``user:[REDACTED]@``; user information without a ``:`` has no password and
    is left as it is. Masking twice changes nothing."""
    if "@" not in text or "://" not in text:
        return text
    out: list[str] = []
    done = 0  # text[:done] is in out
    pos = 0
    while True:
        found = text.find("://", pos)
        if found < 0:
            break
        start = found + 3
        line_end = _line_end(text, start)
        at = text.rfind("@", start, line_end)
        # the rest of the line holds no ``@`` past ``at``: no other ``scheme://`` of it has user
        # information (searched from each of them, the line was read again each time: quadratic)
        pos = line_end
        if at < 0:
            at, pos = _broken_at(text, start, line_end)
            if at < 0:
                continue
        start = _user_start(text, start, at)
        if start < 0:
            continue
        if keep_user:
            user, colon, _ = text[start:at].partition(":")
            masked = f"{user}:[REDACTED]@" if colon else None
        else:
            masked = "REDACTED:REDACTED@"
        if masked is not None:
            out.append(text[done:start])
            out.append(masked)
            done = at + 1
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def mask_url(url: str) -> str:
    """One URL (a configured host, a broker) as an error or a log line may quote it: the password of
    its user information masked as ``check`` masks one (``user:[REDACTED]@``, up to the URL's last
    ``@``), with a ``scheme://`` or without one (``ada:pw@backend:8080``, ``amqp:/ada:pw@h``: the
    mask of a text finds no user information without ``scheme://``, and such a URL was quoted whole
    in the error that refused it). A URL without a ``:`` before its last ``@`` is left as it is."""
    at = url.rfind("@")
    if at < 0:
        return url
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme is not None else 0
    user, colon, _ = url[start:at].partition(":")
    return f"{url[:start]}{user}:[REDACTED]{url[at:]}" if colon else url


def password_of(url: str) -> str | None:
    """The password of ``url`` by the module's rule (after the first ``:`` of the user information,
    up to the last ``@`` of the line), as written (not percent-decoded); ``None`` without one."""
    found = url.find("://")
    if found < 0:
        return None
    start = found + 3
    at = url.rfind("@", start, _line_end(url, start))
    if at < 0:
        return None
    start = _user_start(url, start, at)
    if start < 0:
        return None
    _, colon, password = url[start:at].partition(":")
    return password if colon else None
