"""Each vendor's API as ``ai/llm`` speaks it: the credential headers, the request body built from the
unified request (``instructions``, ``contents``) and the configured ``variables``, and the texts and
token count read back from the vendor's answer.

The unified answer is ``{"ai_gateway_response": [{"contents": [text, ...]}, ...], "usage": "<total
tokens>"}``: one entry per choice (OpenAI output message, Gemini candidate, Mistral choice; Anthropic
answers one), each with its text parts in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ANTHROPIC_VERSION", "VENDORS", "Vendor", "unified"]

#: the Messages API version every Anthropic call states (their docs' current one)
ANTHROPIC_VERSION: Final = "2023-06-01"

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor API version."""

    #: the header that carries the credential, and how its value is written
    auth_header: str
    auth_value: Callable[[str], str]
    #: headers sent on every call besides the credential
    extra_headers: tuple[tuple[str, str], ...]
    #: ``build(instructions, contents, variables)`` → the vendor's request body
    build: Callable[[str | None, str, Mapping[str, Any]], Body]
    #: the texts of each choice of an answer
    texts: Callable[[Any], list[list[str]]]
    #: the answer's total token count, or ``None``
    tokens: Callable[[Any], int | None]


def _set(body: Body, variables: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]) -> None:
    """Copy the variables that are set (variable name → body key)."""
    for variable, key in pairs:
        value = variables.get(variable)
        if value is not None:
            body[key] = value


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(parts: Any, key: str = "text") -> list[str]:
    return [p[key] for p in _list(parts) if isinstance(p, dict) and isinstance(p.get(key), str)]


# OpenAI: the Responses API (POST /v1/responses) -------------------------------------------------
def _openai_build(instructions: str | None, contents: str, variables: Mapping[str, Any]) -> Body:
    body: Body = {"model": variables.get("model"), "input": contents}
    if instructions:
        body["instructions"] = instructions
    _set(body, variables, (("temperature", "temperature"), ("top_p", "top_p"), ("truncation", "truncation")))
    if variables.get("max_output_tokens"):  # 0 sets no limit
        body["max_output_tokens"] = variables["max_output_tokens"]
    return body


def _openai_texts(answer: Any) -> list[list[str]]:
    return [
        _strings([p for p in _list(item.get("content")) if isinstance(p, dict) and p.get("type") == "output_text"])
        for item in _list(_get(answer, "output"))
        if isinstance(item, dict) and item.get("type") == "message"
    ]


# Anthropic: the Messages API (POST /v1/messages) ------------------------------------------------
def _anthropic_build(instructions: str | None, contents: str, variables: Mapping[str, Any]) -> Body:
    body: Body = {
        "model": variables.get("model"),
        "max_tokens": variables.get("max_tokens") or 1024,  # required by the API; the schema's default
        "messages": [{"role": "user", "content": contents}],
    }
    if instructions:
        body["system"] = instructions
    _set(
        body,
        variables,
        (("temperature", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"), ("stop_sequences", "stop_sequences")),
    )
    return body


def _anthropic_tokens(answer: Any) -> int | None:
    used = [_int(_get(answer, "usage", k)) for k in ("input_tokens", "output_tokens")]
    return None if all(u is None for u in used) else sum(u or 0 for u in used)


# Gemini: generateContent (POST /v1beta/models/<model>:generateContent) --------------------------
def _gemini_build(instructions: str | None, contents: str, variables: Mapping[str, Any]) -> Body:
    body: Body = {"contents": [{"role": "user", "parts": [{"text": contents}]}]}
    if instructions:
        body["systemInstruction"] = {"parts": [{"text": instructions}]}
    config: Body = {}
    _set(
        config,
        variables,
        (
            ("candidate_count", "candidateCount"),
            ("max_output_tokens", "maxOutputTokens"),
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("top_k", "topK"),
            ("stop_sequences", "stopSequences"),
        ),
    )
    if config:
        body["generationConfig"] = config
    return body


# Mistral: chat completions (POST /v1/chat/completions) ------------------------------------------
def _mistral_build(instructions: str | None, contents: str, variables: Mapping[str, Any]) -> Body:
    messages = [{"role": "system", "content": instructions}] if instructions else []
    body: Body = {"model": variables.get("model"), "messages": [*messages, {"role": "user", "content": contents}]}
    _set(
        body,
        variables,
        (
            ("max_tokens", "max_tokens"),
            ("n", "n"),
            ("random_seed", "random_seed"),
            ("safe_prompt", "safe_prompt"),
            ("stop", "stop"),
            ("temperature", "temperature"),
            ("top_p", "top_p"),
        ),
    )
    return body


def _mistral_texts(answer: Any) -> list[list[str]]:
    out: list[list[str]] = []
    for choice in _list(_get(answer, "choices")):
        content = _get(choice, "message", "content")
        out.append([content] if isinstance(content, str) else _strings(content))
    return out


def _bearer(credential: str) -> str:
    return f"Bearer {credential}"


def _plain(credential: str) -> str:
    return credential


#: (vendor, version) → its API
VENDORS: Final[Mapping[tuple[str, str], Vendor]] = {
    ("openai", "v1"): Vendor(
        "Authorization",
        _bearer,
        (),
        _openai_build,
        _openai_texts,
        lambda a: _int(_get(a, "usage", "total_tokens")),
    ),
    ("anthropic", "v1"): Vendor(
        "x-api-key",
        _plain,
        (("anthropic-version", ANTHROPIC_VERSION),),
        _anthropic_build,
        lambda a: [_strings(_get(a, "content"))] if isinstance(_get(a, "content"), list) else [],
        _anthropic_tokens,
    ),
    ("gemini", "v1beta"): Vendor(
        "x-goog-api-key",
        _plain,
        (),
        _gemini_build,
        lambda a: [_strings(_get(c, "content", "parts")) for c in _list(_get(a, "candidates"))],
        lambda a: _int(_get(a, "usageMetadata", "totalTokenCount")),
    ),
    ("mistral", "v1"): Vendor(
        "Authorization",
        _bearer,
        (),
        _mistral_build,
        _mistral_texts,
        lambda a: _int(_get(a, "usage", "total_tokens")),
    ),
}


def unified(vendor: Vendor, answer: Any) -> dict[str, Any]:
    """The unified answer for a vendor's decoded JSON answer."""
    tokens = vendor.tokens(answer)
    return {
        "ai_gateway_response": [{"contents": texts} for texts in vendor.texts(answer)],
        "usage": "" if tokens is None else str(tokens),
    }
