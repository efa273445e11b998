"""``plugin/req-resp-modifier``: no modifier is built in; the namespace says what it runs."""

from __future__ import annotations

from krakenpy.components.plugin.req_resp_modifier import COMPONENT, ModifierPlugins
from tests.components.helpers import site


def test_req_resp_modifier_go_plugin_names_build_nothing() -> None:
    where = site("plugin/req-resp-modifier", "endpoint")
    assert COMPONENT.parse({"name": ["amplitude-forwarder-request"]}, where) == ModifierPlugins()
    assert where.notes == []  # the settings check refuses (or warns about) the Go plugin


def test_req_resp_modifier_without_names_has_no_effect_and_says_so() -> None:
    where = site("plugin/req-resp-modifier", "backend")
    COMPONENT.parse({"name": []}, where)
    assert [n.path for n in where.notes] == ["endpoints[0].backend[0].extra_config.plugin/req-resp-modifier"]


async def test_req_resp_modifier_builds_nothing() -> None:
    where = site("plugin/req-resp-modifier", "endpoint")
    assert await COMPONENT.proxy(ModifierPlugins(), where, None) is None  # type: ignore[misc, arg-type]
