"""Which exceptions from an app count as the client leaving (logged at debug)."""

from __future__ import annotations

from ferry._errors import ClientDisconnected
from ferry.server._state import _from_disconnect


def raised_inside(outer: type[Exception], inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException:
            raise outer("wrapped")  # noqa: B904 - the implicit context is the point
    except Exception as exc:
        return exc


def test_the_send_error_itself_counts() -> None:
    assert _from_disconnect(ClientDisconnected("gone"))


def test_an_exception_raised_while_handling_it_counts() -> None:
    # Starlette's StreamingResponse: `except OSError: raise ClientDisconnect()`.
    assert _from_disconnect(raised_inside(RuntimeError, ClientDisconnected("gone")))


def test_an_exception_group_counts_only_if_every_member_does() -> None:
    gone = raised_inside(RuntimeError, ClientDisconnected("gone"))
    assert _from_disconnect(ExceptionGroup("task group", [gone, ClientDisconnected("x")]))
    assert not _from_disconnect(ExceptionGroup("task group", [gone, ValueError("bug")]))


def test_an_unrelated_error_does_not_count() -> None:
    assert not _from_disconnect(ValueError("bug"))
    assert not _from_disconnect(raised_inside(RuntimeError, KeyError("k")))


def test_a_context_loop_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert not _from_disconnect(first)
