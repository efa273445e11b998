"""The CEL engine: KrakenD's environment (declared variables, standard library only) and outcomes."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.cel.engine import CelCheckError, CelSyntaxError, Checks, compile_expression

REQ: dict[str, Any] = {
    "req_method": "POST",
    "req_path": "/users/42",
    "req_params": {"Id": "42", "Nick": "kpacha"},
    "req_headers": {"X-Tenant": ["acme"]},
    "req_querystring": {"x": ["4"], "y": ["2", "3"]},
    "now": "2018-12-10T00:00:00Z",
}


def outcome(source: str, values: dict[str, Any]) -> tuple[bool, str]:
    failure = Checks([compile_expression(source)], list(values)).first_failure(values)
    return (True, "") if failure is None else (False, failure[1])


@pytest.mark.parametrize(
    "source",
    [
        "int(req_params.Id) % 2 == 0",
        "'2' in req_querystring.y",
        "req_params.Nick.matches('kpacha|alombarte')",
        "req_headers['X-Tenant'][0] == 'acme'",
        "!has(req_headers.Authorization)",
        "timestamp(now).getDayOfWeek() == 1",
        "timestamp(now).getHours('Europe/Madrid') == 1",
    ],
)
def test_engine_true_expressions(source: str) -> None:
    assert outcome(source, REQ) == (True, "")


def test_engine_false_result_is_reported_without_values() -> None:
    assert outcome("req_params.Nick == 'someone-else'", REQ) == (False, "result is false")


def test_engine_non_bool_result_fails_and_names_its_type() -> None:
    ok, why = outcome("req_params.Nick", REQ)
    assert not ok
    assert "string" in why.lower()
    assert "kpacha" not in why  # values never reach logs


def test_engine_missing_key_is_an_evaluation_error() -> None:
    ok, why = outcome("req_params.Missing == 'x'", REQ)
    assert not ok
    assert why.startswith("evaluation error:")


def test_engine_unbound_variable_is_an_evaluation_error() -> None:
    ok, why = outcome("resp_completed", {"now": REQ["now"]})
    assert not ok
    assert "resp_completed" in why


@pytest.mark.parametrize("source", ["req_method ==", "req_method == 'GET' &&", "(req_method"])
def test_engine_syntax_error(source: str) -> None:
    with pytest.raises(CelSyntaxError, match="Syntax error"):
        compile_expression(source)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("req_method == 1", "no matching overload"),
        ("req_path.lowerAscii() == 'x'", "lowerAscii"),  # no string extension, as in KrakenD
        ("2.0 > 1", "no matching overload"),  # no cross-type numeric comparison in the checker
        ("undeclared == 1", "undeclared"),
    ],
)
def test_engine_check_error(source: str, fragment: str) -> None:
    with pytest.raises(CelCheckError, match=fragment):
        compile_expression(source)


def test_engine_dyn_numbers_compare_across_types_at_run_time() -> None:
    values = {"resp_data": {"price": 12.5, "count": 3.0}}
    assert outcome("resp_data.price > 10 && resp_data.count == 3", values) == (True, "")


def test_engine_checks_stop_at_the_first_failure_and_number_it() -> None:
    sources = ("req_method == 'POST'", "req_path == '/nope'", "req_params.Missing == 'x'")
    programs = [compile_expression(s) for s in sources]
    assert Checks(programs, list(REQ)).first_failure(REQ) == (1, "result is false")


def test_engine_checks_bind_only_mentioned_variables() -> None:
    checks = Checks([compile_expression("req_method == 'POST'")], ["req_method", "req_params", "now"])
    assert checks.names == ("req_method",)


def test_engine_unconvertible_value_fails_closed() -> None:
    checks = Checks([compile_expression("req_params.Id == '1'")], ["req_params"])
    assert checks.first_failure({"req_params": {"Id": object()}}) is not None
