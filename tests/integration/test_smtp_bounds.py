"""An SMTP server that talks on and on cannot hold a delivery: a reply past 64 KiB, or replies
past the session's time, end it as a transient failure, with the connection closed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from adapters.smtp import REPLY_LIMIT, SmtpError, SmtpMailer
from workflow.messages import Email

EMAIL = Email(to="jane.doe@domain.fr", subject="Activation", text="text", html="<p>html</p>")
Talk = Callable[[socket.socket], None]


class Talker:
    """A loopback server that runs `talk` on each connection; counts the bytes it got to send
    and whether the client closed the connection."""

    def __init__(self, talk: Talk) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.talk, self.sent, self.closed = talk, 0, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            try:
                self.talk(conn)
            except OSError:  # the client hung up: what the test expects
                self.closed.set()

    def stop(self) -> None:
        self.listener.close()
        self.thread.join(30)


@pytest.fixture
def talker() -> Iterator[Callable[[Talk], Talker]]:
    made: list[Talker] = []

    def make(talk: Talk) -> Talker:
        made.append(Talker(talk))
        return made[-1]

    yield make
    for t in made:
        t.stop()


def endless(pause: float) -> Talk:
    """A greeting that never ends: continuation lines, `pause` seconds apart."""
    def talk(conn: socket.socket) -> None:
        line = b"220-" + b"x" * 60 + b"\r\n"
        while True:
            conn.sendall(line)
            if pause:
                time.sleep(pause)
    return talk


def test_a_reply_past_the_limit_is_a_transient_failure_and_the_connection_is_closed(
        talker: Callable[[Talk], Talker]) -> None:
    server = talker(endless(0))
    mailer = SmtpMailer("127.0.0.1", server.port, timeout=30)
    with pytest.raises(SmtpError, match="a reply of the SMTP server ran past 64 KiB") as caught:
        mailer.send(EMAIL)
    assert caught.value.transient
    assert server.closed.wait(30)  # its next writes found the connection gone


def test_a_server_that_trickles_is_cut_off_at_the_end_of_the_session(
        talker: Callable[[Talk], Talker]) -> None:
    """Each line comes well within the read timeout, the reply stays small: only the session's
    time ends it."""
    server = talker(endless(0.01))
    mailer = SmtpMailer("127.0.0.1", server.port, timeout=30, session_timeout=0.5)
    with pytest.raises(SmtpError, match="took longer than a session may last") as caught:
        mailer.send(EMAIL)
    assert caught.value.transient
    assert server.closed.wait(30)


def test_a_reply_within_the_limit_is_read_whole(talker: Callable[[Talk], Talker]) -> None:
    """A long greeting under the limit, then refusals: a refusal is what the mailer reports."""
    def talk(conn: socket.socket) -> None:
        lines = (REPLY_LIMIT - 1024) // 66  # 66 bytes a line
        conn.sendall((b"220-" + b"x" * 60 + b"\r\n") * lines + b"220 ready\r\n")
        while conn.recv(1024):  # EHLO, HELO, QUIT: each refused
            conn.sendall(b"554 no service\r\n")

    server = talker(talk)
    mailer = SmtpMailer("127.0.0.1", server.port, timeout=30)
    with pytest.raises(SmtpError, match=r"the SMTP server permanently refused a command \(554\)") as caught:
        mailer.send(EMAIL)
    assert not caught.value.transient


@pytest.mark.parametrize("bad", [0, -1.0])
def test_a_session_timeout_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="session_timeout must be positive"):
        SmtpMailer("127.0.0.1", 25, session_timeout=bad)
