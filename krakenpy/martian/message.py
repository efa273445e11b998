"""What a Martian modifier changes: one upstream request or response, headers kept in order."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

__all__ = ["Message"]


class Message:
    """A mutable view of a request (``url`` set) or a response (``status`` set)."""

    __slots__ = ("body", "headers", "method", "status", "url")

    def __init__(
        self, headers: list[tuple[str, str]], body: bytes | None, *, url: str = "", method: str = "", status: int = 0
    ) -> None:
        self.headers = headers
        self.body = body
        self.url = url
        self.method = method
        self.status = status

    def values(self, name: str) -> list[str]:
        lower = name.lower()
        return [v for k, v in self.headers if k.lower() == lower]

    def remove(self, name: str) -> None:
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.headers.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    def split(self) -> SplitResult:
        return urlsplit(self.url)

    def replace_url(self, parts: SplitResult) -> None:
        self.url = parts.geturl()
