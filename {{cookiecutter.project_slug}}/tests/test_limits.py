"""What misbehaving clients cannot do to a real server process, and how it shuts down."""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .support import Server, cli, get_json


def raw_request(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send `request` as it is; what the server answers before it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def json_body(answer: bytes) -> dict[str, object]:
    return dict(json.loads(answer.split(b"\r\n\r\n", 1)[1]))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def test_a_body_over_the_limit_is_refused_before_it_is_sent() -> None:
    server = Server(env={"MAX_BODY_BYTES": "65536"})
    try:
        # 60 MB announced, none sent: the answer comes from the headers alone.
        head = b"POST /sleep HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n\r\n"
        answer = raw_request(server.port, head)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert json_body(answer) == {
            "error": "the body is over the limit of 65536 bytes (MAX_BODY_BYTES)",
            "status": 413,
        }
        assert get_json(server.url + "/health")[0] == 200
    finally:
        server.output()


def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    server = Server(env={"IDLE_TIMEOUT": "0.5"})
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server, nothing said
            assert time.monotonic() - started < 3
    finally:
        server.output()


def test_past_max_connections_a_new_client_gets_a_503() -> None:
    server = Server(env={"MAX_CONNECTIONS": "5"})
    time.sleep(0.3)  # the readiness probe's connection is closed and counted out
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
    try:
        time.sleep(0.3)
        answer = raw_request(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 1" in answer
        assert json_body(answer) == {"error": "too many connections", "status": 503}
        for connection in idle:
            connection.close()
        time.sleep(0.3)
        assert get_json(server.url + "/health")[0] == 200
    finally:
        for connection in idle:
            connection.close()
        server.output()


def test_out_of_file_descriptors_the_server_pauses_instead_of_spinning() -> None:
    """With few descriptors and many idle clients, accept() fails: no busy loop, no flood."""

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    server = Server(env={"MAX_CONNECTIONS": "100000"}, preexec_fn=few_files)
    idle = []
    try:
        for _ in range(150):  # more than the server has descriptors for
            idle.append(socket.create_connection(("127.0.0.1", server.port)))
        before = cpu_seconds(server.process.pid)
        time.sleep(2)
        assert cpu_seconds(server.process.pid) - before < 0.5  # it spun a core before
        for connection in idle:
            connection.close()
        idle.clear()
        # It accepts again: /health answers (200, or 503 while a service it checks is
        # down here) once the server has let the closed clients go.
        health: dict[str, object] = {}
        deadline = time.monotonic() + 10
        while "checks" not in health and time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                health = get_json(server.url + "/health")[1]
        assert "checks" in health, f"/health does not answer again: {health}"
    finally:
        for connection in idle:
            connection.close()
        output = server.output()
    assert "cannot accept connections" in output
    assert output.count("Traceback") == 0
    assert output.count("cannot accept connections") < 5  # once per episode, not per turn


def test_the_server_raises_its_open_file_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard < 4096:
        pytest.skip(f"the hard limit here is {hard}: nothing to raise towards")

    def common_default() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    server = Server(env={"OPEN_FILES": "4096"}, preexec_fn=common_default)
    try:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert line.split()[3] == "4096"
    finally:
        server.output()


def test_answers_do_not_tell_the_server_version() -> None:
    server = Server()
    try:
        answer = raw_request(server.port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert b"\r\nServer:" not in answer
    finally:
        server.output()


def test_the_placeholder_secret_is_refused_with_one_line() -> None:
    done = cli("serve", env={"COOKIE_SECRET": "change-me"})
    assert done.returncode == 2
    assert done.stderr.startswith("error: COOKIE_SECRET is the placeholder from .env.example")
    assert done.stderr.count("\n") == 1


def test_requests_still_waiting_at_the_shutdown_deadline_get_a_503() -> None:
    server = Server(env={"SHUTDOWN_TIMEOUT": "0.5"})
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(get_json, server.url + "/sleep?seconds=4")
        time.sleep(0.5)
        started = time.monotonic()
        assert server.stop() == 0
        assert in_flight.result(timeout=10) == (
            503,
            {"error": "the service is shutting down", "status": 503},
        )
        assert time.monotonic() - started < 3


def test_a_second_signal_hurries_the_shutdown() -> None:
    server = Server(env={"SHUTDOWN_TIMEOUT": "30"})
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(get_json, server.url + "/sleep?seconds=10")
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        started = time.monotonic()
        assert server.stop() == 0  # the second SIGTERM
        assert time.monotonic() - started < 3  # not the 30 s SHUTDOWN_TIMEOUT
        assert in_flight.result(timeout=10)[0] == 503


def test_a_request_tornado_cannot_parse_gets_its_bare_400() -> None:
    """Refused by Tornado before any code of ours runs: no JSON body (see the README)."""
    server = Server()
    try:
        bad = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n"
        assert raw_request(server.port, bad) == b"HTTP/1.1 400 Bad Request\r\n\r\n"
    finally:
        server.output()


def test_headers_over_the_limit_close_the_connection() -> None:
    """No answer: Tornado stops reading at MAX_HEADER_BYTES and hangs up (see the README)."""
    server = Server(env={"MAX_HEADER_BYTES": "4096"})
    try:
        huge = b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n"
        assert raw_request(server.port, huge) == b""
        assert get_json(server.url + "/health")[0] == 200
    finally:
        server.output()
