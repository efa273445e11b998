"""Field lookup by any of the names a client may use, cached per message type."""

from __future__ import annotations

from typing import Any, Final

from google.protobuf.descriptor import FieldDescriptor

__all__ = ["WRAPPERS", "FieldIndex", "is_map"]

#: google/protobuf/wrappers.proto: rendered and filled as their one ``value``
WRAPPERS: Final = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)


def is_map(field: Any) -> bool:
    """A ``map<k, v>`` field (a repeated message whose type is a map entry)."""
    message = field.message_type
    return bool(field.type == FieldDescriptor.TYPE_MESSAGE and message is not None and message.GetOptions().map_entry)


class FieldIndex:
    """Per message type: its fields by proto name, JSON name and, last, case-insensitively (a URL
    placeholder arrives as ``Id_flight``, KrakenD's capitalised key, for the field ``id_flight``)."""

    __slots__ = ("_by_type",)

    def __init__(self) -> None:
        self._by_type: dict[Any, tuple[dict[str, Any], dict[str, Any]]] = {}

    def find(self, descriptor: Any, name: str) -> Any | None:
        """The field of ``descriptor`` called ``name``, or ``None``."""
        names = self._by_type.get(descriptor)
        if names is None:
            exact: dict[str, Any] = {}
            folded: dict[str, Any] = {}
            for field in descriptor.fields:
                exact.setdefault(field.json_name, field)
                folded.setdefault(field.name.lower(), field)
                folded.setdefault(field.json_name.lower(), field)
            for field in descriptor.fields:
                exact[field.name] = field  # the proto name wins over another field's JSON name
            names = self._by_type[descriptor] = (exact, folded)
        return names[0].get(name) or names[1].get(name.lower())
