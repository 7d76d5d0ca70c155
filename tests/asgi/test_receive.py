"""The application's ``receive()`` (ASGI HTTP spec 2.4): the request body as
``http.request`` messages, then ``http.disconnect`` once the response is sent."""

from __future__ import annotations

from ferry.asgi import Message, Receive, Scope, Send

from ..server._helpers import Flag, open_connection
from ..support import serving


class Receiver:
    """Records what receive() gives; with ``pause``, tells the test after the first piece."""

    def __init__(self, *, after_response: bool = False) -> None:
        self.messages: list[Message] = []
        self.after: list[Message] = []
        self.after_response = after_response
        self.first = Flag()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        while True:
            message = await receive()
            self.messages.append(message)
            self.first.set()
            if message["type"] != "http.request" or not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})
        if self.after_response:
            self.after.append(await receive())


def test_a_request_without_body_is_one_empty_message(loop_name: str) -> None:
    app = Receiver()
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader.response()
    assert app.messages == [{"type": "http.request", "body": b"", "more_body": False}]


def test_the_body_arrives_in_pieces_with_more_body(loop_name: str) -> None:
    app = Receiver()
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
            app.first.wait()  # the app has the first piece; the rest is not sent yet
            sock.sendall(b"56789")
            reader.response()
    assert app.messages == [
        {"type": "http.request", "body": b"01234", "more_body": True},
        {"type": "http.request", "body": b"56789", "more_body": False},
    ]


def test_pieces_received_before_the_app_asks_come_as_one_message(loop_name: str) -> None:
    app = Receiver()
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            # One small write: the whole request arrives before the app runs.
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n1\r\nd\r\n2\r\nef\r\n0\r\n\r\n"
            )
            reader.response()
    assert app.messages == [{"type": "http.request", "body": b"abcdef", "more_body": False}]


def test_receive_after_the_response_gives_disconnect_at_once(loop_name: str) -> None:
    app = Receiver(after_response=True)
    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader.response()  # the connection stays open: the disconnect is not a close
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            reader.to_close()
    assert app.after == [{"type": "http.disconnect"}, {"type": "http.disconnect"}]
