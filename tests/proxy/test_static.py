from __future__ import annotations

import pytest

from krakenpy.config.options import parse_endpoint_proxy
from krakenpy.errors import BackendError, ConfigError
from krakenpy.proxy.static import static_middleware
from tests.doubles import failing_proxy, make_request, static_proxy

STATIC = {"s": "static", "k": "static"}


def _wrap(strategy: str | None, inner):
    options: dict[str, object] = {"data": STATIC}
    if strategy is not None:
        options["strategy"] = strategy
    middleware = static_middleware(parse_endpoint_proxy({"static": options}, "proxy").static)
    assert middleware is not None
    return middleware(inner)


def _partial():
    return static_proxy({"a": 1, "k": "backend"}, complete=False, errors=[BackendError("x")])


CASES = {
    # strategy: (applies on complete, on partial-with-error, on incomplete-without-error, on raise)
    None: (True, True, True, True),
    "always": (True, True, True, True),
    "success": (True, False, True, False),
    "complete": (True, False, False, False),
    "errored": (False, True, False, True),
    "incomplete": (False, True, True, True),
}


@pytest.mark.parametrize("strategy", list(CASES))
async def test_static_strategy_applies(strategy: str | None) -> None:
    on_complete, on_partial, on_incomplete, on_raise = CASES[strategy]
    complete = await _wrap(strategy, static_proxy({"a": 1, "k": "backend"}))(make_request())
    assert ("s" in complete.data) is on_complete
    if on_complete:
        assert complete.data["k"] == "static"  # static wins collisions
        assert complete.is_complete  # static data does not change completeness
    partial = await _wrap(strategy, _partial())(make_request())
    assert ("s" in partial.data) is on_partial
    assert not partial.is_complete
    incomplete = await _wrap(strategy, static_proxy({"a": 1}, complete=False))(make_request())
    assert ("s" in incomplete.data) is on_incomplete
    if on_raise:
        response = await _wrap(strategy, failing_proxy())(make_request())
        assert response.data == STATIC
        assert not response.is_complete
        assert response.errors
    else:
        with pytest.raises(BackendError):
            await _wrap(strategy, failing_proxy())(make_request())


async def test_static_data_is_copied_per_request() -> None:
    proxy = _wrap("always", static_proxy({}))
    first = await proxy(make_request())
    first.data["s"] = "changed"
    second = await proxy(make_request())
    assert second.data["s"] == "static"


def test_static_absent_is_no_middleware() -> None:
    assert static_middleware(None) is None
    assert static_middleware(parse_endpoint_proxy({"sequential": True}, "proxy").static) is None


def test_static_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ConfigError, match="strategy"):
        parse_endpoint_proxy({"static": {"strategy": "sometimes", "data": {}}}, "endpoints[0].extra_config.proxy")
