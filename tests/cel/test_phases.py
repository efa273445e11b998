"""KrakenD's phase split: by substring, per-phase numbering, skipped and never-run expressions."""

from __future__ import annotations

import pytest

from krakenpy.cel.phases import compile_phases
from krakenpy.errors import ConfigError
from krakenpy.proxy.types import Request, Response


def _request(**params: str) -> Request:
    return Request(method="GET", path="/p", params=dict(params), headers={}, query={})


def _paths(exprs: list[str]) -> list[tuple[str, str]]:
    return [(f"x[{i}].check_expr", e) for i, e in enumerate(exprs)]


def test_phases_split_by_substring() -> None:
    phases = compile_phases(
        _paths(["req_method == 'GET'", "resp_completed", "has(JWT.sub)", "req_method == 'GET' && resp_completed"]),
        jwt=True,
    )
    assert phases.pre is not None and phases.post is not None and phases.jwt is not None
    assert [p.source for p in phases.pre.checks.programs] == [
        "req_method == 'GET'",
        "req_method == 'GET' && resp_completed",
    ]
    assert [p.source for p in phases.post.checks.programs] == [
        "resp_completed",
        "req_method == 'GET' && resp_completed",
    ]
    assert [p.source for p in phases.jwt.checks.programs] == ["has(JWT.sub)"]


def test_phases_an_expression_in_two_phases_fails_in_the_first_for_lack_of_variables() -> None:
    # KrakenD binds only the phase's variables: resp_completed is unknown before the call
    phases = compile_phases(_paths(["req_method == 'GET' && resp_completed"]), jwt=False)
    assert phases.pre is not None
    failure = phases.pre.first_failure(_request(), "")
    assert failure is not None and failure[0] == 0 and "resp_completed" in failure[1]


def test_phases_substring_not_variable_decides() -> None:
    # 'req' inside a string literal is enough to land in the request phase
    phases = compile_phases(_paths(["'request' == 'request'"]), jwt=False)
    assert phases.pre is not None and phases.post is None
    assert phases.pre.first_failure(_request(), "") is None


def test_phases_numbering_counts_only_checked_expressions_of_the_phase() -> None:
    exprs = [
        "resp_completed",  # post only
        "req_method == 1",  # type check fails: skipped
        "req_method == 'GET'",  # pre #0
        "req_params.Id == '2'",  # pre #1
    ]
    phases = compile_phases(_paths(exprs), jwt=False)
    assert phases.pre is not None
    assert phases.pre.first_failure(_request(Id="1"), "") == (1, "result is false")
    assert [w.path for w in phases.warnings] == ["x[1].check_expr"]
    assert "type check failed" in phases.warnings[0].message


def test_phases_syntax_errors_are_config_errors_at_each_path() -> None:
    with pytest.raises(ConfigError) as info:
        compile_phases(_paths(["req_method ==", "req_method == 'GET'", "resp_completed &&"]), jwt=False)
    assert [i.path for i in info.value.issues] == ["x[0].check_expr", "x[2].check_expr"]
    assert all(i.severity == "error" and "CEL syntax error" in i.message for i in info.value.issues)


def test_phases_expressions_without_a_phase_never_run() -> None:
    phases = compile_phases(_paths(["true", "now != ''", "1 +"]), jwt=True)
    assert phases.pre is None and phases.post is None and phases.jwt is None
    assert len(phases.warnings) == 3
    assert all("never evaluated" in w.message for w in phases.warnings)


def test_phases_jwt_needs_the_validator() -> None:
    phases = compile_phases(_paths(["'admin' in JWT.roles"]), jwt=False)
    assert phases.jwt is None
    assert "auth/validator" in phases.warnings[0].message


def test_phases_post_phase_sees_the_response() -> None:
    phases = compile_phases(_paths(["int(resp_data.Id) % 2 == 0"]), jwt=False)
    assert phases.post is not None
    assert phases.post.first_failure(Response(data={"Id": "4"}), "") is None
    assert phases.post.first_failure(Response(data={"Id": "5"}), "") == (0, "result is false")


def test_phases_jwt_claims_numbers_are_doubles() -> None:
    # krakend-cel's rejecter test: an int day of week found in a list of JSON numbers
    expr = "has(JWT.user_id) && has(JWT.enabled_days) && (timestamp(now).getDayOfWeek() in JWT.enabled_days)"
    phases = compile_phases(_paths([expr]), jwt=True)
    assert phases.jwt is not None
    now = "2018-12-10T00:00:00Z"  # a Monday
    assert phases.jwt.first_failure({"user_id": 1, "enabled_days": [1, 2, 3, 4, 5]}, now) is None
    assert phases.jwt.first_failure({"user_id": 1, "enabled_days": []}, now) is not None
    assert phases.jwt.first_failure({"user_id": 1}, now) is not None
    assert phases.jwt.first_failure({}, now) is not None
    assert phases.jwt.wants_now
