"""What the end-to-end scripts share around the processes they start: free ports, waiting until
something serves, and stopping a broker whatever happened."""
import socket
import time


def free_port():
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20, also=None):
    """Waits until 127.0.0.1:`port` accepts a connection and `also()` (if given) answers without
    an OSError; AssertionError naming the port after `timeout` seconds. Returns the seconds taken."""
    began = time.time()
    while time.time() - began < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if also:
                also()
            return time.time() - began
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing serves on {port} after {timeout} s")


def stop(process, timeout=60):
    """SIGTERM and its exit status (None if it had to be killed)."""
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except Exception:  # noqa: BLE001 (a stop that hangs is killed)
        kill(process)
        return None


def kill(process):
    """SIGKILL if still running, and reaped."""
    if process and process.poll() is None:
        process.kill()
    if process:
        process.wait()
