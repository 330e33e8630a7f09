from __future__ import annotations

import argparse

import pytest

from searchduel.config import SPECS, Settings, add_flags, settings_table
from searchduel.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_phi3_greedy_and_frozen():
    s = Settings.load(parse(), environ={})
    assert s.model == "microsoft/Phi-3-mini-4k-instruct"
    assert s.temperature == 0.0
    assert s.providers == ("duckduckgo", "searxng", "local")
    with pytest.raises(AttributeError):
        s.model = "x"  # type: ignore[misc]


def test_flag_beats_env_beats_default():
    env = {"SEARCHDUEL_MAX_NEW_TOKENS": "100", "SEARCHDUEL_SEARCH": "local"}
    s = Settings.load(parse("--max-new-tokens", "50"), environ=env)
    assert s.max_new_tokens == 50
    assert s.search == "local"
    assert s.providers == ("local",)


def test_bad_choice_names_variable_and_valid_values():
    with pytest.raises(ConfigError) as info:
        Settings.load(parse(), environ={"SEARCHDUEL_SEARCH": "bing"})
    message = str(info.value)
    assert "SEARCHDUEL_SEARCH" in message
    for valid in ("auto", "duckduckgo", "searxng", "local", "off"):
        assert valid in message


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SEARCHDUEL_MAX_NEW_TOKENS": "many"}, "SEARCHDUEL_MAX_NEW_TOKENS"),
        ({"SEARCHDUEL_MAX_NEW_TOKENS": "0"}, "SEARCHDUEL_MAX_NEW_TOKENS"),
        ({"SEARCHDUEL_QUANTIZE": "2bit"}, "4bit"),
        ({"SEARCHDUEL_ALLOW_ADDRESS": "10.0.0.0/33"}, "SEARCHDUEL_ALLOW_ADDRESS"),
        ({"SEARCHDUEL_SEARXNG_URL": "ftp://x"}, "SEARCHDUEL_SEARXNG_URL"),
        ({"SEARCHDUEL_SEARCH_ORDER": "duckduckgo,bing"}, "SEARCHDUEL_SEARCH_ORDER"),
        ({"SEARCHDUEL_DENSE": "maybe"}, "SEARCHDUEL_DENSE"),
        ({"SEARCHDUEL_BACKEND": "openai"}, "SEARCHDUEL_BASE_URL"),
    ],
)
def test_bad_values_fail_with_the_variable(env, needle):
    with pytest.raises(ConfigError, match=needle):
        Settings.load(parse(), environ=env)


def test_allow_address_repeats_and_normalises():
    s = Settings.load(
        parse("--allow-address", "127.0.0.2", "--allow-address", "10.1.2.3/8"), environ={}
    )
    assert s.allow_address == ("127.0.0.2/32", "10.0.0.0/8")


def test_allow_addresses_plural_variable_is_read_too():
    env = {"SEARCHDUEL_ALLOW_ADDRESSES": "127.0.0.2/32,10.0.0.0/8"}
    assert Settings.load(parse(), environ=env).allow_address == ("127.0.0.2/32", "10.0.0.0/8")
    both = {**env, "SEARCHDUEL_ALLOW_ADDRESS": "192.168.0.0/16"}
    assert Settings.load(parse(), environ=both).allow_address == ("192.168.0.0/16",)
    with pytest.raises(ConfigError, match="SEARCHDUEL_ALLOW_ADDRESSES"):
        Settings.load(parse(), environ={"SEARCHDUEL_ALLOW_ADDRESSES": "not-an-address"})


def test_gradio_server_port_is_honoured_but_flag_wins():
    assert Settings.load(parse(), environ={"GRADIO_SERVER_PORT": "7999"}).port == 7999
    assert (
        Settings.load(parse("--port", "8001"), environ={"GRADIO_SERVER_PORT": "7999"}).port == 8001
    )


def test_api_key_is_env_only():
    assert Settings.load(parse(), environ={"SEARCHDUEL_API_KEY": "sk-x"}).api_key == "sk-x"
    with pytest.raises(SystemExit):
        parse("--api-key", "sk-x")


def test_readme_table_lists_every_setting():
    table = settings_table()
    for spec in SPECS:
        assert spec.env in table


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [("--max-new-tokens", "abc", "a whole number"), ("--temperature", "warm", "a number")],
)
def test_a_bad_number_names_the_flag_not_python(flag, value, expected):
    with pytest.raises(ConfigError) as info:
        Settings.load(parse(flag, value), environ={})
    message = str(info.value)
    assert flag in message and expected in message
    assert "invalid literal" not in message and "could not convert" not in message


def test_a_model_path_that_does_not_exist_is_no_such_folder(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("models/nonexistent", "./tiny", str(tmp_path / "gone"), "~/no-such-model-here"):
        with pytest.raises(ConfigError, match="no such folder"):
            Settings.load(parse("--model", name), environ={})
    # a hub id (no such local parent folder) and an existing folder are both fine
    assert Settings.load(parse("--model", "owner/model"), environ={}).model == "owner/model"
    assert Settings.load(parse("--model", "models"), environ={}).model == "models"
    # a served model name for an inference server is not a path at all
    served = Settings.load(
        parse("--model", "./x", "--backend", "openai", "--base-url", "http://h/v1"), environ={}
    )
    assert served.model == "./x"
