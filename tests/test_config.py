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
