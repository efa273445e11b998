"""``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` / ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``: span attribute
values cut to a number of characters, as the OpenTelemetry SDKs (otel-go's, KrakenD's) cut them:
each string, and each string of an array, to its first ``limit`` characters; other values as they
are. Applied by the OTLP exporter to each batch when the variable is set (never on the request path,
nothing at all when it is not): a record none of whose attributes is too long is written as it is;
another is rebuilt as a :class:`Span` with its values cut and written by the generic template."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.telemetry.trace.spans import GENERIC, Record, Span, span_of

__all__ = ["AttributeCut", "cut_value"]

#: templates kept with whether their fixed attributes hold a value too long (a few per gateway)
_TEMPLATES_MAX: Final = 1024


def _long(value: Any, limit: int) -> bool:
    """Whether ``value`` is a string longer than ``limit``, or an array holding one."""
    if type(value) is str:
        return len(value) > limit
    if isinstance(value, list | tuple):
        return any(type(v) is str and len(v) > limit for v in value)
    return False


def cut_value(value: Any, limit: int) -> Any:
    """``value`` with its string (or each string of its array) cut to ``limit`` characters."""
    if type(value) is str:
        return value[:limit] if len(value) > limit else value
    if isinstance(value, list | tuple):
        return type(value)(v[:limit] if type(v) is str and len(v) > limit else v for v in value)
    return value


def _any_long(attributes: dict[str, Any], limit: int) -> bool:
    return any(_long(v, limit) for v in attributes.values())


class AttributeCut:
    """The cut of one exporter's span batches to ``limit`` characters per attribute value."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: per template: whether its fixed attributes (the shape's, a layer's ``static`` ones) hold
        #: a value too long, so each of its records is rebuilt
        self._fixed: dict[Any, bool] = {}

    def batch(self, records: list[Record]) -> list[Record]:
        """``records`` with the attribute values of each cut (the usual ones kept as they are)."""
        return [self.record(r) for r in records]

    def record(self, record: Record) -> Record:
        limit = self.limit
        template = record[0]
        if template is GENERIC:
            span: Span = record[8]
            if not _any_long(span.all_attributes(), limit) and not any(
                _any_long(attributes, limit) for _, _, attributes in span.events or ()
            ):
                return record
        elif not self._template_long(template) and not any(_long(v, limit) for v in record[8:]):
            return record  # no value the record holds is too long: nor any attribute made of them
        else:
            span = span_of(record)
        attributes = span.all_attributes()
        cut = Span(
            span.trace_id, span.parent_id, span.name, span.kind,
            {k: cut_value(v, limit) for k, v in attributes.items()}, span.span_id, span.start_ns,
        )  # fmt: skip
        cut.end_ns, cut.status, cut.status_message = span.end_ns, span.status, span.status_message
        if span.events:
            cut.events = [
                (name, when, {k: cut_value(v, limit) for k, v in attributes.items()})
                for name, when, attributes in span.events
            ]
        return cut.record()

    def _template_long(self, template: Any) -> bool:
        found = self._fixed.get(template)
        if found is None:
            if len(self._fixed) >= _TEMPLATES_MAX:
                self._fixed.clear()
            shape = getattr(template, "shape", None)
            fixed: dict[str, Any] = dict(getattr(template, "base", None) or {})
            if shape is not None:
                fixed.update(shape.attributes)
            found = self._fixed[template] = _any_long(fixed, self.limit)
        return found
