# Tries to reach a TCP listener the test opened on the host's loopback (the worker has no network).
# cell: normalize
import socket
for host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((host, {PORT}), timeout=1).sendall(b"pwned")
    except OSError:
        pass
def normalize(y, box): return np.zeros((1, 2))
def denormalize(n, box): return np.zeros((1, 2))
