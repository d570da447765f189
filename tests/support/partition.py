"""A network partition between one client and one server, on loopback: a TCP proxy that
forwards bytes until it is cut, and then drops every byte both ways while keeping the
connections open. Nothing sent during the cut ever arrives, unlike a paused server,
which reads what waited in its socket buffers when it resumes."""

import contextlib
import socket
import threading

from devstack.processes import free_port


class Partition:
    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._sockets = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cut(self):
        self._cut.set()

    def heal(self):
        self._cut.clear()

    def close(self):
        self._closed.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self):
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():  # a connection attempt is lost too: never answered
                self._sockets.append(client)
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self._cut.is_set():
                    sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
