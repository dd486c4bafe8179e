"""A TCP proxy on a dynamic loopback port that can cut connections: for dropped-connection tests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to ``target``. ``cut_after(n)`` makes the next connection that
    carries more than ``n`` bytes from the server drop abruptly, once."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut_after: int | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cuts = 0
        self.connections = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def cut_after(self, nbytes: int) -> None:
        with self._lock:
            self._cut_after = nbytes

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
                budget, self._cut_after = self._cut_after, None
            threading.Thread(target=self._pipe, args=(server, client, budget), daemon=True).start()
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, budget: int | None) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if budget is not None and sent + len(data) > budget:
                    sink.sendall(data[: max(0, budget - sent)])
                    with self._lock:
                        self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def start(self) -> CuttingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        self._thread.join(timeout=5)


@contextmanager
def cutting_proxy(target: tuple[str, int]) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(target).start()
    try:
        yield proxy
    finally:
        proxy.stop()
