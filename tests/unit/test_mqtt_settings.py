"""MQTT settings: the --mqtt URL, topic filters and DATA_DIR/mqtt-nodes.toml."""

from pathlib import Path

import pytest

from holdfire.adapters.net.mqtt import (
    DEFAULT_TOPICS,
    MqttConfigError,
    MqttSettings,
    check_topic_filter,
    load_nodes,
    parse_mqtt_url,
)


def test_a_plain_url_with_credentials() -> None:
    settings = parse_mqtt_url("mqtt://ops:s%40cret@broker.example:1884")
    assert settings == MqttSettings(
        host="broker.example", port=1884, username="ops", password="s@cret", topics=DEFAULT_TOPICS
    )
    assert "s@cret" not in repr(settings)


def test_defaults_ports_by_scheme_and_topics_replace_the_defaults() -> None:
    plain = parse_mqtt_url("mqtt://127.0.0.1")
    assert plain is not None
    assert (plain.port, plain.tls, plain.username) == (1883, False, None)
    secure = parse_mqtt_url("MQTTS://broker.example", ["bft/+/pos"])
    assert secure is not None
    assert (secure.port, secure.tls, secure.topics) == (8883, True, ("bft/+/pos",))
    assert secure.address == "mqtts://broker.example:8883"


def test_off_turns_it_off() -> None:
    assert parse_mqtt_url(" off ") is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://broker:1883", "mqtt://"),
        ("broker:1883", "mqtt://"),
        ("mqtt://", "no host"),
        ("mqtt://broker:99999", "port"),
        ("mqtt://broker:0", "port"),
        ("mqtt://broker:x", "port"),
        ("mqtt://broker/topic", "only scheme"),
        ("mqtt://broker?x=1", "only scheme"),
        ("mqtt://[::1", "IPv6"),
    ],
)
def test_a_bad_url_says_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(MqttConfigError, match=words):
        parse_mqtt_url(url)


def test_the_password_is_not_repeated_in_an_error() -> None:
    with pytest.raises(MqttConfigError) as info:
        parse_mqtt_url("mqtt://ops:hunter2@broker:99999")
    assert "hunter2" not in str(info.value)
    assert "ops:***@" in str(info.value)


@pytest.mark.parametrize("topic", ["#", "a/#", "msh/+/2/json/#", "+/+", "a/b/c", "/a"])
def test_valid_topic_filters(topic: str) -> None:
    check_topic_filter(topic)


@pytest.mark.parametrize("topic", ["", "a/#/b", "a#", "a/b+", "+a/b", "a\x00b"])
def test_invalid_topic_filters(topic: str) -> None:
    with pytest.raises(MqttConfigError, match="--mqtt-topic"):
        check_topic_filter(topic)
    with pytest.raises(MqttConfigError):
        parse_mqtt_url("mqtt://broker", [topic])


def test_node_file(tmp_path: Path) -> None:
    assert load_nodes(tmp_path) == {}
    (tmp_path / "mqtt-nodes.toml").write_text('"!7EFEEE00" = " btr-82-1 "\n"!000000ab" = "m-3"\n')
    assert load_nodes(tmp_path) == {"!7efeee00": "btr-82-1", "!000000ab": "m-3"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('"7efeee00" = "a"\n', "8 hex digits"),
        ('"!7efeee0" = "a"\n', "8 hex digits"),
        ('"!7efeee0g" = "a"\n', "8 hex digits"),
        ('"!7efeee00" = ""\n', "non-empty"),
        ('"!7efeee00" = 5\n', "non-empty"),
        ("[nodes]\n", "8 hex digits"),
        ("not toml", "not readable"),
    ],
)
def test_a_bad_node_file_names_the_entry(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "mqtt-nodes.toml").write_text(text)
    with pytest.raises(MqttConfigError, match=words) as info:
        load_nodes(tmp_path)
    assert "mqtt-nodes.toml" in str(info.value)
