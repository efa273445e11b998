"""Bot decisions: krakend-botdetector's order, Go regexps through RE2, the LRU, the log limiter."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from krakenpy.botdetect import Detector, RateLimitedLog, parse_bot
from krakenpy.errors import ConfigError

P = "extra_config.security/bot-detector"
CFG: dict[str, Any] = {
    "allow": ["MyAndroidClient/1.0", "Pingdom.com_bot_version_1.1"],
    "deny": ["facebookexternalhit/1.1"],
    "patterns": ["(Pingdom.com_bot_version_).*", "(?i)(googlebot)/.*"],
}


def detector(cfg: dict[str, Any], where: str = "SERVICE") -> Detector:
    return Detector(parse_bot(cfg, P), where)


@pytest.mark.parametrize(
    ("user_agent", "bot"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", False),
        ("MyAndroidClient/1.0", False),
        ("Pingdom.com_bot_version_1.1", False),  # allowed although a pattern matches
        ("Pingdom.com_bot_version_1.2", True),
        ("facebookexternalhit/1.1", True),
        ("facebookexternalhit/1.2", False),  # deny is exact
        ("Mozilla/5.0 (compatible; GoogleBot/2.1)", True),  # unanchored, (?i) stays in its pattern
        ("", False),
    ],
)
def test_detector_decisions(user_agent: str, bot: bool) -> None:
    assert detector(CFG).is_bot(user_agent) is bot
    assert detector({**CFG, "cache_size": 2}).is_bot(user_agent) is bot


def test_detector_empty_user_agent_rule_ignores_the_allow_list() -> None:
    d = detector({"empty_user_agent_is_bot": True, "allow": [""]})
    assert d.is_bot("") is True
    assert d.is_bot("curl/8") is False


class Counting(Detector):
    """Records the User-Agents actually decided (cache misses)."""

    calls: list[str]

    def decide(self, user_agent: str) -> bool:
        self.calls.append(user_agent)
        return super().decide(user_agent)


def counting(cfg: dict[str, Any]) -> Counting:
    d = Counting(parse_bot(cfg, P))
    d.calls = []
    return d


def test_detector_lru_remembers_and_evicts() -> None:
    d = counting({**CFG, "cache_size": 2})
    verdicts = [d.is_bot(ua) for ua in ["a", "facebookexternalhit/1.1", "a", "c", "a", "facebookexternalhit/1.1"]]
    # a and the bot decided; a cached; c evicts the bot (a was used more recently); a cached; the bot again
    assert d.calls == ["a", "facebookexternalhit/1.1", "c", "facebookexternalhit/1.1"]
    assert verdicts == [False, True, False, False, False, True]


def test_detector_without_cache_decides_every_time() -> None:
    d = counting(CFG)
    d.is_bot("a")
    d.is_bot("a")
    assert d.calls == ["a", "a"]


def test_detector_long_user_agents_are_not_cached() -> None:
    d = counting({"patterns": ["bot"], "cache_size": 10})
    long_ua = "x" * 10_000
    d.is_bot(long_ua)
    d.is_bot(long_ua)
    d.is_bot("short")
    d.is_bot("short")
    assert d.calls == [long_ua, long_ua, "short"]


def test_detector_user_agent_that_is_not_utf8_is_matched_like_go() -> None:
    d = detector({"patterns": ["^evil\ufffdbot"]})
    assert d.is_bot("evil\udcffbot") is True  # aiohttp keeps the byte 0xff as a lone surrogate


def test_detector_many_patterns_one_scan_same_answers() -> None:
    patterns = [f"bot{i}/" for i in range(300)]
    d = detector({"patterns": patterns})
    assert d.is_bot("x bot299/1") and d.is_bot("bot0/") and not d.is_bot("bot300/")


def test_detector_pathological_pattern_is_linear() -> None:
    # catastrophic for a backtracking engine; RE2 answers at once
    d = detector({"patterns": ["^(a+)+$"]})
    assert d.is_bot("a" * 5000 + "!") is False


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("(?<=a)b", "invalid perl operator"), ("(a", "missing )"), (r"\C", "any-byte"), ("a{2000}", "repetition")],
)
def test_parse_bot_refuses_what_go_refuses(pattern: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_bot({"patterns": ["fine", pattern]}, P)
    [issue] = caught.value.issues
    assert issue.path == f"{P}.patterns[1]" and message in issue.message


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"allow": "x"}, f"{P}.allow"),
        ({"deny": [1]}, f"{P}.deny"),
        ({"cache_size": -1}, f"{P}.cache_size"),
        ({"cache_size": "10"}, f"{P}.cache_size"),
        ({"empty_user_agent_is_bot": "yes"}, f"{P}.empty_user_agent_is_bot"),
    ],
)
def test_parse_bot_bad_values_are_located(raw: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_bot(raw, P)
    assert [i.path for i in caught.value.issues] == [path]


def test_rate_limited_log_holds_back_and_counts(caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("krakenpy.botdetect.detector.time.monotonic", lambda: clock[0])
    limited = RateLimitedLog(logging.getLogger("test.limited"), logging.WARNING, "[X] ", interval=1.0)
    with caplog.at_level(logging.WARNING, logger="test.limited"):
        results = [limited.emit("hit %d", i) for i in range(5)]
        clock[0] += 1.0
        results.append(limited.emit("hit %d", 5))
    assert results == [True, False, False, False, False, True]
    assert [r.getMessage() for r in caplog.records] == [
        "[X] hit 0",
        "[X] hit 5 (4 more rejected since the last message)",
    ]


def test_detector_reject_logs_once_per_second_with_a_quoted_user_agent(caplog: pytest.LogCaptureFixture) -> None:
    d = detector(CFG, "ENDPOINT: /a")
    with caplog.at_level(logging.DEBUG, logger="krakenpy.botdetector"):
        for _ in range(1000):
            d.reject("facebookexternalhit/1.1\x1b[2J" + "x" * 500)
        d.reject("")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "[ENDPOINT: /a][Botdetector] bot rejected: User-Agent 'facebookexternalhit/1.1\\x1b[2J"
    )
    assert len(record.getMessage()) < 200
