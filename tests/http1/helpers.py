"""Drive a ``ServerConnection`` without sockets: feed bytes, collect events and responses."""

from __future__ import annotations

from collections.abc import Iterable

from ferry.http1 import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    ServerConnection,
    State,
)

FIXED_DATE = b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"


def merge_data(events: Iterable[Event]) -> list[Event]:
    """Join adjacent Data events: how a body is cut into pieces depends on the reads."""
    merged: list[Event] = []
    for event in events:
        if type(event) is Data and merged and type(merged[-1]) is Data:
            merged[-1] = Data(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


class Driver:
    """A server loop in miniature: it answers each request with a fixed response.

    ``respond`` renders the response (the default: 200 with the body ``b"ok"``); every
    event and every byte the engine asks to send is recorded.
    """

    def __init__(self, conn: ServerConnection | None = None) -> None:
        self.conn = conn or ServerConnection()
        self.events: list[Event] = []
        self.sent = b""
        self.closed = False  # the engine said the connection ends

    def respond(self) -> None:
        self.sent += self.conn.send_response(
            200, [(b"content-type", b"text/plain")], body=b"ok", end=True
        )

    def feed(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self.pump()

    def eof(self) -> None:
        self.conn.receive_eof()
        self.pump()

    def pump(self) -> None:
        conn = self.conn
        while not self.closed:
            event = conn.next_event()
            if event is NEED_DATA:
                return
            if event is PAUSED:
                if conn.our_state is State.IDLE:
                    self.respond()
                if not conn.keep_alive:
                    self.closed = True
                    return
                conn.start_next_cycle()
                continue
            self.events.append(event)
            if type(event) is ConnectionClosed:
                self.closed = True
            elif type(event) is EndOfMessage and conn.our_state is State.IDLE:
                self.respond()


def run_whole(data: bytes, *, eof: bool = False) -> Driver:
    driver = Driver()
    driver.feed(data)
    if eof:
        driver.eof()
    return driver


def run_bytewise(data: bytes, *, eof: bool = False) -> Driver:
    driver = Driver()
    for i in range(len(data)):
        driver.feed(data[i : i + 1])
    if eof:
        driver.eof()
    return driver


def run_split(data: bytes, cuts: Iterable[int], *, eof: bool = False) -> Driver:
    driver = Driver()
    start = 0
    for cut in sorted(set(cuts)):
        driver.feed(data[start:cut])
        start = cut
    driver.feed(data[start:])
    if eof:
        driver.eof()
    return driver
