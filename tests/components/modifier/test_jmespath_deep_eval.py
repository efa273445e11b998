"""``modifier/jmespath``: an expression the parser reads without recursing deep (``a|a|…``,
``!!…a``, ``a[][]…``) but whose evaluation recurses about two frames per level was accepted by
``check`` and failed every request with a 500 (a ``RecursionError`` inside the interpreter): it is a
config error at its ``expr``; one as deep as the limit answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jmespath
import pytest

from krakenpy.components.modifier.jmespath import MAX_DEPTH, _depth
from tests.cli_gateway import check_config
from tests.components.modifier.test_jmespath import _app, _endpoint
from tests.conftest import make_config


@pytest.mark.parametrize("expr", ["students" + "|@" * 450, "!" * 450 + "students", "students" + "[]" * 230])
def test_an_expression_the_interpreter_cannot_evaluate_is_a_config_error(tmp_path: Path, expr: str) -> None:
    doc = make_config([_endpoint("/x", expr, [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}])])
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    done = check_config(tmp_path / "krakend.json")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "endpoints[0].extra_config.modifier/jmespath.expr: nested too deeply" in done.stderr, done.stderr


async def test_an_expression_as_deep_as_the_limit_answers(gateway: Any, backend: Any) -> None:
    pipes_expr, nots_expr = "students" + "|@" * (MAX_DEPTH - 2) + "|length(@)", "!" * (MAX_DEPTH - 1) + "students"
    assert _depth(jmespath.compile(pipes_expr).parsed) == _depth(jmespath.compile(nots_expr).parsed) == MAX_DEPTH
    base = await backend(_app())
    backends = [{"host": [base], "url_pattern": "/students"}]
    client = await gateway(
        make_config([_endpoint("/pipes", pipes_expr, backends), _endpoint("/nots", nots_expr, backends)])
    )
    pipes = await client.get("/pipes")
    assert pipes.status == 200 and await pipes.json() == {"content": 3}
    nots = await client.get("/nots")
    assert nots.status == 200 and await nots.json() == {"content": False}
