"""Flexible Configuration's error quotes the broken line of the rendered file; ``auth/basic``'s
``users`` (user name → password or hash, injected from the environment or a settings file) were
quoted as rendered: the members are named after the users, not after a secret, so the masking of
secret-named pairs passed them."""

from __future__ import annotations

from pathlib import Path

from tests.cli_gateway import check_config

PASSWORD = "b4sic-pa55-c4n4ry"
HASH = "$2y$05$c4n4ryHashOfAdaPasswordxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"


def _check(tmp_path: Path, template: str, env: dict[str, str]) -> str:
    path = tmp_path / "krakend.tmpl"
    path.write_text(template)
    result = check_config(path, env={"FC_ENABLE": "1", **env})
    printed = result.stdout + result.stderr
    assert result.returncode != 0 and "rendered line" in printed, printed
    return printed


def test_inline_users_on_the_broken_line_are_masked(tmp_path: Path) -> None:
    printed = _check(
        tmp_path,
        '{"version": 3, "extra_config": {"auth/basic": {"users": '
        '{"ada": "{{ env "TEST_FC_PW" }}", "bob": "{{ env "TEST_FC_HASH" }}"}}} "endpoints": []}\n',
        {"TEST_FC_PW": PASSWORD, "TEST_FC_HASH": HASH},
    )
    assert PASSWORD not in printed and "c4n4ry" not in printed, printed
    assert '"users": {"ada": "[REDACTED]", "bob": "[REDACTED]"}}}' in printed


def test_users_opened_above_the_broken_line_and_a_password_holding_a_quote(tmp_path: Path) -> None:
    """The object opened lines above (the usual layout), and the password itself breaking the JSON
    (a ``"`` injected as it is): masked to the end of its line."""
    template = (
        '{"version": 3,\n "extra_config": {\n  "auth/basic": {\n   "users": {\n'
        '    "ada": "{{ env "TEST_FC_PW" }}",\n    "bob": "{{ env "TEST_FC_HASH" }}"\n   }\n  }\n },\n'
        ' "endpoints": []}\n'
    )
    printed = _check(tmp_path, template, {"TEST_FC_PW": 'pa"55-tail-c4n4ry', "TEST_FC_HASH": HASH})
    assert "c4n4ry" not in printed and "tail" not in printed, printed
    assert 'rendered line 5: "ada": "[REDACTED]"' in printed
    printed = _check(
        tmp_path, template.replace('",\n    "bob"', '"\n    "bob"'), {"TEST_FC_PW": PASSWORD, "TEST_FC_HASH": HASH}
    )
    assert "c4n4ry" not in printed, printed
    assert 'rendered line 6: "bob": "[REDACTED]"' in printed


def test_a_password_left_unquoted_is_masked(tmp_path: Path) -> None:
    """A template that leaves a user's password unquoted (``"ada": {{ env "PW" }}``) is the usual way a
    ``users`` object breaks the JSON: the broken line showed the bare password, only strings were masked."""
    template = (
        '{"version": 3,\n "extra_config": {\n  "auth/basic": {\n   "users": {\n'
        '    "ada": {{ env "TEST_FC_PW" }},\n    "bob": "{{ env "TEST_FC_HASH" }}"\n   }\n  }\n },\n'
        ' "endpoints": []}\n'
    )
    printed = _check(tmp_path, template, {"TEST_FC_PW": PASSWORD, "TEST_FC_HASH": HASH})
    assert "c4n4ry" not in printed, printed
    assert 'rendered line 5: "ada": "[REDACTED]",' in printed
    printed = _check(tmp_path, template.replace('"ada": {{', '"ada":\n     {{'), {"TEST_FC_PW": PASSWORD})
    assert "c4n4ry" not in printed, printed  # the value on the line after its colon, as JSON allows
    assert 'rendered line 6: "[REDACTED]",' in printed
    for password in ("hunter2 spaced-c4n4ry", 'hun"ter2-c4n4ry'):
        inline = (
            '{"version": 3, "extra_config": {"auth/basic": {"users": {"ada": {{ env "TEST_FC_PW" }}, '
            '"bob": "{{ env "TEST_FC_HASH" }}"}}}, "endpoints": []}\n'
        )
        printed = _check(tmp_path, inline, {"TEST_FC_PW": password, "TEST_FC_HASH": HASH})
        assert password not in printed and "c4n4ry" not in printed, printed
        assert '"users": {"ada": "[REDACTED]", "bob": "[REDACTED]"}}}' in printed, printed
