"""A loopback TCP proxy that can go silent without closing anything.

Models the network faults that keepalives alone do not reveal: a NAT or load balancer that
dropped its state (`silence()`: every flow open now stops carrying bytes both ways, but
stays open -- no FIN, no RST -- while new flows work), or a path that is dead altogether
(`blackhole()`: new connections are accepted and then silent too). The kernel still
acknowledges whatever arrives on a silenced socket, so only a client-side deadline notices.

    proxy = SilentProxy("127.0.0.1", 5432)
    worker_dsn = proxy.dsn("host=127.0.0.1 port=5432 dbname=x")
    proxy.silence()   # or blackhole(); restore() makes new connections forward again
    proxy.close()

Standard library only: one background thread runs a selector over every socket, and the
controls are run by that thread, so when `silence()` returns no byte crosses an old flow.
"""

from __future__ import annotations

import queue
import selectors
import socket
import threading
from collections.abc import Callable

CHUNK = 65536
HIGH_WATER = 1 << 20  # stop reading a side whose peer has this much unsent: backpressure


class _Flow:
    """One proxied connection: the client's socket, the upstream one, and bytes not yet
    written to each."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.pending = {client: bytearray(), upstream: bytearray()}
        self.live = True  # False once silenced or closed: events already selected are ignored

    def peer(self, sock: socket.socket) -> socket.socket:
        return self.upstream if sock is self.client else self.client

    def sockets(self) -> tuple[socket.socket, socket.socket]:
        return self.client, self.upstream


class SilentProxy:
    """Listens on 127.0.0.1:<free port> (`.port`) and forwards to target_host:target_port."""

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1",
                 connect_timeout: float = 5.0) -> None:
        self.target = (target_host, target_port)
        self.connect_timeout = connect_timeout
        self._listener = socket.create_server((listen_host, 0))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._commands: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = (
            queue.SimpleQueue())
        self._flows: list[_Flow] = []
        self._held: list[socket.socket] = []  # silent sockets, kept open on purpose
        self._blackholed = False
        self._running = True
        self.accepted = 0  # connections accepted so far, forwarded or not
        self._thread = threading.Thread(target=self._loop, name="silent-proxy", daemon=True)
        self._thread.start()

    # -- controls (any thread) ---------------------------------------------------------

    def silence(self) -> None:
        """Every connection open now goes silent both ways and stays open; new ones forward."""
        self._call(self._silence_all)

    def blackhole(self) -> None:
        """silence(), and connections made from now on are accepted but silent too."""
        def apply() -> None:
            self._silence_all()
            self._blackholed = True
        self._call(apply)

    def restore(self) -> None:
        """New connections forward again (silenced ones stay silent: their state is gone)."""
        def apply() -> None:
            self._blackholed = False
        self._call(apply)

    def stats(self) -> dict[str, int]:
        """accepted (ever), forwarding (now), silent (held open, carrying nothing)."""
        out: dict[str, int] = {}

        def read() -> None:
            out.update(accepted=self.accepted, forwarding=len(self._flows),
                       silent=len(self._held))
        self._call(read)
        return out

    def dsn(self, dsn: str) -> str:
        """The libpq DSN (keywords or URL) with host and port pointing at this proxy."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo  # the suite's driver

        params = conninfo_to_dict(dsn)
        params.pop("hostaddr", None)
        params.update(host=self.host, port=str(self.port))
        return make_conninfo("", **params)

    def close(self) -> None:
        """Stop the thread and close every socket (silent ones included)."""
        if self._thread.is_alive():
            self._call(self._stop)
            self._thread.join(10)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def __enter__(self) -> SilentProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Callable[[], None]) -> None:
        """Run fn on the proxy's thread and wait for it: controls take effect on return."""
        if not self._running:
            raise RuntimeError("the proxy is closed")
        done = threading.Event()
        self._commands.put((fn, done))
        self._wake_w.send(b"x")
        if not done.wait(10):
            raise RuntimeError("the proxy thread did not answer within 10 s")

    # -- the proxy's thread --------------------------------------------------------------

    def _loop(self) -> None:
        while self._running:
            for key, events in self._selector.select(timeout=1.0):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    self._run_commands()
                else:
                    self._serve(key.data, key.fileobj, events)  # type: ignore[arg-type]

    def _run_commands(self) -> None:
        try:
            self._wake_r.recv(CHUNK)
        except BlockingIOError:
            pass
        while not self._commands.empty():
            fn, done = self._commands.get()
            try:
                fn()
            finally:
                done.set()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self._blackholed:
            self._held.append(client)
            return
        try:  # a blocking connect: the target is on loopback, and this keeps the loop simple
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            client.close()
            return
        flow = _Flow(client, upstream)
        for sock in flow.sockets():
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._flows.append(flow)
        for sock in flow.sockets():
            self._selector.register(sock, selectors.EVENT_READ, flow)

    def _serve(self, flow: _Flow, sock: socket.socket, events: int) -> None:
        if not flow.live:  # silenced or dropped earlier in this round of events
            return
        try:
            if events & selectors.EVENT_READ:
                data = sock.recv(CHUNK)
                if not data:  # an orderly close on one side: close the flow, as a proxy does
                    self._drop(flow)
                    return
                flow.pending[flow.peer(sock)] += data
            if events & selectors.EVENT_WRITE and flow.pending[sock]:
                sent = sock.send(flow.pending[sock])
                del flow.pending[sock][:sent]
        except BlockingIOError:
            pass
        except OSError:  # reset or broken: that side is gone, so is the flow
            self._drop(flow)
            return
        self._reinterest(flow)

    def _reinterest(self, flow: _Flow) -> None:
        """Write where bytes wait; read where the peer is not backed up."""
        for sock in flow.sockets():
            events = 0
            if len(flow.pending[flow.peer(sock)]) < HIGH_WATER:
                events |= selectors.EVENT_READ
            if flow.pending[sock]:
                events |= selectors.EVENT_WRITE
            registered = sock in self._selector.get_map()
            if events and registered:
                self._selector.modify(sock, events, flow)
            elif events:
                self._selector.register(sock, events, flow)
            elif registered:
                self._selector.unregister(sock)

    def _unregister(self, flow: _Flow) -> None:
        for sock in flow.sockets():
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass

    def _drop(self, flow: _Flow) -> None:
        flow.live = False
        self._unregister(flow)
        for sock in flow.sockets():
            sock.close()
        self._flows.remove(flow)

    def _silence_all(self) -> None:
        """Stop reading and writing every flow, keep its sockets open, forget its bytes."""
        for flow in self._flows:
            flow.live = False
            self._unregister(flow)
            self._held.extend(flow.sockets())
        self._flows.clear()

    def _stop(self) -> None:
        self._running = False
        for flow in list(self._flows):
            self._drop(flow)
        for sock in self._held:
            sock.close()
        self._held.clear()
