"""A TCP relay from the host's loopback into a sandboxed kernel's private network namespace.

nbgrader's kernel runs in a network namespace of its own that has only a loopback interface,
so student code cannot reach anything on the host's network (loopback services included) nor
see the host's sockets in ``/proc/net``. The kernel's client (nbgrader) still connects to the
ports of the connection file on the host's loopback: the launcher binds them there *before*
it leaves the host's network namespace (a socket keeps the namespace it was created in), and
relays each accepted connection, byte for byte, to the same port on the private loopback,
where the kernel listens. The relay only accepts on those ports and only connects to the
private loopback: it opens no other way out. It runs in the launcher, outside the kernel's
PID namespace (the kernel cannot see, signal or trace it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import struct
from collections.abc import Callable

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PRIVATE_IP = "127.0.0.1"
BUFFER_CAP = 1 << 20  # per direction and connection: a slow reader holds back the writer
CHUNK = 1 << 16


def bring_up_loopback() -> None:
    """Set ``lo`` up in this (new) network namespace (needs CAP_NET_ADMIN in it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(handle, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(handle, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def listen(ip: str, ports: list[int]) -> list[socket.socket]:
    """Listening sockets on ``ip`` for each port, in the current (host) network namespace."""
    host = "0.0.0.0" if ip in ("*", "") else ip
    out = []
    try:
        for port in ports:
            server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((host, port))
            server.listen(16)
            server.setblocking(False)
            out.append(server)
    except OSError:
        for server in out:
            server.close()
        raise
    return out


class _Link:
    """One relayed connection: the client's socket and the kernel's, a buffer each way."""

    def __init__(self, client: socket.socket, kernel: socket.socket) -> None:
        self.socks = (client, kernel)
        self.pending = (bytearray(), bytearray())  # pending[i]: read from socks[i]
        self.ended = [False, False]  # socks[i] will send nothing more
        self.closed = False

    def events(self, side: int) -> int:
        wanted = 0
        if not self.ended[side] and len(self.pending[side]) < BUFFER_CAP:
            wanted |= selectors.EVENT_READ
        if self.pending[1 - side]:
            wanted |= selectors.EVENT_WRITE
        return wanted

    def step(self, side: int, mask: int) -> None:
        """Read from and/or write to ``socks[side]``, as ``mask`` says it is ready."""
        sock, other = self.socks[side], self.socks[1 - side]
        if mask & selectors.EVENT_READ:
            data = sock.recv(CHUNK)
            if data:
                self.pending[side].extend(data)
            else:
                self.ended[side] = True
                if not self.pending[side]:
                    other.shutdown(socket.SHUT_WR)
        outgoing = self.pending[1 - side]
        if mask & selectors.EVENT_WRITE and outgoing:
            del outgoing[:sock.send(outgoing)]
            if not outgoing and self.ended[1 - side]:
                sock.shutdown(socket.SHUT_WR)

    @property
    def done(self) -> bool:
        return all(self.ended) and not any(self.pending)


class Relay:
    """Relays ``listeners`` (host loopback) to the same ports on the private loopback."""

    def __init__(self, listeners: list[socket.socket]) -> None:
        self.selector = selectors.DefaultSelector()
        for server in listeners:
            self.selector.register(server, selectors.EVENT_READ, None)

    def _watch(self, link: _Link) -> None:
        for side, sock in enumerate(link.socks):
            events = 0 if link.closed else link.events(side)
            registered = sock in self.selector.get_map()
            if registered and events:
                self.selector.modify(sock, events, (link, side))
            elif registered:
                self.selector.unregister(sock)
            elif events:
                self.selector.register(sock, events, (link, side))

    def _close(self, link: _Link) -> None:
        link.closed = True
        self._watch(link)
        for sock in link.socks:
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        try:
            client, _ = server.accept()
        except OSError:  # gone before it was accepted
            return
        kernel = socket.socket(socket.AF_INET)
        try:  # loopback: refused at once while the kernel is not listening yet
            kernel.connect((PRIVATE_IP, server.getsockname()[1]))
        except OSError:
            kernel.close()
            client.close()  # the client (ZeroMQ) connects again a moment later
            return
        for sock in (client, kernel):
            sock.setblocking(False)
        self._watch(_Link(client, kernel))

    def run(self, finished: Callable[[], bool], wake_fd: int | None = None) -> None:
        """Relay until ``finished()`` (checked when ``wake_fd`` is readable, else each 0.5 s)."""
        if wake_fd is not None:
            self.selector.register(wake_fd, selectors.EVENT_READ, "wake")
        while not finished():
            for key, mask in self.selector.select(None if wake_fd is not None else 0.5):
                if key.data == "wake":
                    continue
                if key.data is None:
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                    continue
                link, side = key.data
                if link.closed:
                    continue
                try:
                    link.step(side, mask)
                except OSError:
                    self._close(link)
                    continue
                if link.done:
                    self._close(link)
                else:
                    self._watch(link)


def serve_until_exit(listeners: list[socket.socket], child: int) -> int:
    """Relay until ``child`` ends; its wait status."""
    relay = Relay(listeners)
    status: list[int] = []

    def finished() -> bool:
        with contextlib.suppress(ChildProcessError):
            pid, wait_status = os.waitpid(child, os.WNOHANG)
            if pid:
                status.append(wait_status)
        return bool(status)

    try:
        wake = os.pidfd_open(child)
    except (AttributeError, OSError):
        wake = None
    relay.run(finished, wake)
    return status[0]
