"""Weighted lists in Accept and Accept-Encoding (RFC 9110 §12.4.2, §12.5.1, §12.5.3)."""

from __future__ import annotations

__all__ = ["weights"]


def weights(field_value: str) -> dict[str, float]:
    """Each item of a weighted list, lower-cased, with its weight in [0, 1].

    A missing weight is 1; an unreadable one counts as 0 (no consent); other parameters
    (``text/html;level=1``) are dropped. A repeated item keeps its last weight.
    """
    result: dict[str, float] = {}
    for element in field_value.split(","):
        item, *params = element.split(";")
        item = item.strip().lower()
        if not item:
            continue  # RFC 9110 §5.6.1: empty list elements are allowed
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        result[item] = max(0.0, min(weight, 1.0))
    return result
