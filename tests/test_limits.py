"""The per-client rate limit and the address it is keyed on."""

from __future__ import annotations

import pytest

from searchduel.config import Settings
from searchduel.errors import ConfigError, RateLimited
from searchduel.limits import RateLimiter, client_address, proxy_hops


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_at_most_limit_starts_per_window_then_a_wait_is_named() -> None:
    clock = Clock()
    limiter = RateLimiter(3, window_s=60, clock=clock)
    for _ in range(3):
        limiter.check("1.2.3.4")
        clock.now += 1
    with pytest.raises(RateLimited) as info:
        limiter.check("1.2.3.4")
    assert info.value.retry_after == 57 and "at most 3 a minute" in str(info.value)
    limiter.check("5.6.7.8")  # another client is not affected
    clock.now += 57
    limiter.check("1.2.3.4")  # the first start left the window


def test_refusals_do_not_count_and_zero_means_off() -> None:
    clock = Clock()
    limiter = RateLimiter(1, window_s=60, clock=clock)
    limiter.check("a")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.check("a")
    clock.now += 60
    limiter.check("a")
    off = RateLimiter(0)
    for _ in range(100):
        off.check("a")


def test_the_client_table_is_bounded() -> None:
    limiter = RateLimiter(2, max_clients=100)
    for i in range(1000):
        limiter.check(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100


def test_without_a_trusted_proxy_the_header_is_ignored() -> None:
    headers = {"X-Forwarded-For": "6.6.6.6"}
    assert client_address(headers, "203.0.113.9", 0) == "203.0.113.9"


def test_behind_one_proxy_the_entry_it_added_is_used_never_the_clients() -> None:
    # the client forged "6.6.6.6"; the proxy appended the address it really saw
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.7"}
    assert client_address(headers, "10.0.0.2", 1) == "198.51.100.7"
    assert client_address({"X-Forwarded-For": "198.51.100.7"}, "10.0.0.2", 1) == "198.51.100.7"
    # two proxies: the second from the right is what the outer one saw
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.1.1.1"}
    assert client_address(headers, "10.0.0.2", 2) == "198.51.100.7"


@pytest.mark.parametrize("value", ["", "not-an-ip", "1.2.3.4.5"])
def test_a_missing_or_malformed_header_falls_back_to_the_peer(value: str) -> None:
    headers = {"X-Forwarded-For": value} if value else {}
    assert client_address(headers, "10.0.0.2", 1) == "10.0.0.2"


def test_ipv6_entries_are_normalised() -> None:
    headers = {"X-Forwarded-For": "2001:DB8::0001"}
    assert client_address(headers, "10.0.0.2", 1) == "2001:db8::1"


def test_proxy_hops_auto_means_one_on_spaces_only() -> None:
    assert proxy_hops(-1, {"SPACE_ID": "someone/search-duel"}) == 1
    assert proxy_hops(-1, {}) == 0
    assert proxy_hops(2, {"SPACE_ID": "x"}) == 2


def test_settings_refuse_negative_limits() -> None:
    with pytest.raises(ConfigError, match="SEARCHDUEL_RATE_LIMIT"):
        Settings(rate_limit=-1)
    with pytest.raises(ConfigError, match="SEARCHDUEL_PROXY_HOPS"):
        Settings(proxy_hops=-2)


def test_the_page_refuses_a_client_past_the_rate_limit(tiny_model_dir, tmp_path):
    """Through the launched app's /compare: the limit counts starts per client address and
    the refusal says how long to wait (no flag or header names)."""
    import os
    import sys

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from conftest import REPO, _serve, free_port

    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "SEARCHDUEL_RATE_LIMIT": "1",
        "SEARCHDUEL_DATA_DIR": str(tmp_path),
        "SEARCHDUEL_DENSE": "false",
    }
    cmd = [sys.executable, str(REPO / "app.py"), "--model", str(tiny_model_dir)]
    cmd += ["--search", "local", "--port", str(port)]
    for url in _serve(cmd, env, ".rate_app.log", port):
        client = Client(url, verbose=False)
        first = client.predict("Skagway", 16, 0.0, 2, "local", api_name="/compare")
        assert first[0].strip()
        with pytest.raises(AppError) as info:
            client.predict("Skagway again", 16, 0.0, 2, "local", api_name="/compare")
        message = str(info.value)
        assert "at most 1 a minute" in message and "Try again in" in message
        assert "--" not in message and "X-Forwarded" not in message


def test_slots_one_per_key_and_a_cap_in_all():
    from searchduel.limits import Slots

    slots = Slots(2)
    assert slots.take("a") == "" and slots.take("a") == "yours"
    assert slots.take("b") == "" and slots.take("c") == "full"
    slots.give_back("a")
    assert slots.take("c") == "" and len(slots) == 2
