from __future__ import annotations

import pytest

from ferry import Config, ConfigError, Limits


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lifespan", "yes", "lifespan must be one of auto, on, off"),
        ("loop", "trio", "loop must be one of auto, asyncio, uvloop"),
        ("log_level", "loud", "log_level must be one of critical, error, warning, info, debug"),
    ],
)
def test_choice_fields_are_checked_from_python(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(**{field: value})
    assert str(info.value) == message


def test_every_engine_limit_comes_from_the_config() -> None:
    config = Config(
        max_request_line=100,
        max_head_size=200,
        max_header_count=3,
        max_body_size=None,
        max_chunk_line=40,
        max_trailer_size=50,
    )
    assert config.limits == Limits(
        max_request_line=100,
        max_head_size=200,
        max_header_count=3,
        max_body_size=None,
        max_chunk_line=40,
        max_trailer_size=50,
    )


@pytest.mark.parametrize("value", ["", "\t", " ", "!", "~", "\x80", "\xff", "edge/2 (x)"])
def test_server_header_takes_every_field_value_character(value: str) -> None:
    assert Config(server_header=value).server_header == value


@pytest.mark.parametrize("value", ["\x00", "\x08", "\n", "\r", "\x1f", "\x7f", "\u0100", "€"])
def test_server_header_refuses_the_rest(value: str) -> None:
    # RFC 9110 §5.5, the engine's class (ferry.http1._abnf): CTLs but HTAB, and non-Latin-1.
    with pytest.raises(ConfigError) as info:
        Config(server_header=value)
    assert str(info.value) == f"server_header is not a valid field value: {value!r}"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metrics_port": 70000}, "metrics_port out of range: 70000"),
        ({"metrics_port": 8000, "port": 8000}, "metrics_port must differ from port"),
    ],
)
def test_the_metrics_port_is_checked(options: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(**options)  # type: ignore[arg-type]
    assert str(info.value) == message
