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
- an ``@`` before the first ``scheme://`` of its line (``mail a@b at http://h/x``) is left alone, and
  so is a ``scheme://`` followed by whitespace (``an amqp:// URL, got amqp://u:p@h``: the mask starts
  at the second one).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["mask_url", "mask_userinfo", "password_of"]

#: a URL scheme (RFC 3986: a letter, then letters, digits, ``+``, ``-``, ``.``) and its ``://``, followed
#: by something: ``amqp:// or amqps://`` in prose starts no authority (a user does not start with a space).
#: A scheme starts where no scheme character precedes it: tried from every letter of a long run of
#: them, the search was quadratic (a 16 k letter word before an ``@`` and a ``://``: 0.3 s a text)
_SCHEME: Final = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://(?=\S)")


def _line_end(text: str, start: int) -> int:
    """Where the line holding ``start`` ends (``\\n`` or ``\\r``; the text's length for its last)."""
    line_end = len(text)
    for stop in ("\n", "\r"):
        i = text.find(stop, start, line_end)
        if i != -1:
            line_end = i
    return line_end


def _last_at(text: str, start: int) -> int:
    """The last ``@`` of the authority candidate that starts at ``start`` (it runs to the end of its
    line: ``\\n`` or ``\\r``); -1 without one."""
    return text.rfind("@", start, _line_end(text, start))


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
        match = _SCHEME.search(text, pos)
        if match is None:
            break
        start = match.end()
        line_end = _line_end(text, start)
        at = text.rfind("@", start, line_end)
        # the rest of the line holds no ``@`` past ``at``: no other ``scheme://`` of it has user
        # information (searched from each of them, the line was read again each time: quadratic)
        pos = line_end
        if at < 0:
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
    match = _SCHEME.search(url)
    if match is None:
        return None
    start = match.end()
    at = _last_at(url, start)
    if at < 0:
        return None
    _, colon, password = url[start:at].partition(":")
    return password if colon else None
