"""What every transport owes the runner, written once and inherited by each
transport's tests (as kirk's SUT tests are): a subclass provides a connected
``transport`` fixture.

The agent's one exec per host depends on these: stdin that stays open while the
controller builds, lines that arrive before EOF, and a silence clock that restarts
when the controller sends (a long build must not read as a hung target).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from kmatrix.errors import TransportError


class TransportBasics:
    """What every transport owes, the simulated ones included (bench/simtransport.py,
    tests/faultsim.py): argv lists only, counted round trips, and a stream opened
    without stdin refuses input. The simulated ones do not run commands, so the
    command semantics below (TransportContract) are for real transports."""

    def test_argv_is_never_a_shell_string(self, transport: Any) -> None:
        with pytest.raises(TypeError):
            transport.run("echo hi", timeout=5)
        with pytest.raises(TypeError):
            transport.stream("echo hi", idle_timeout=5)
        with pytest.raises(TypeError):
            transport.run([], timeout=5)

    def test_each_exec_is_a_round_trip(self, transport: Any) -> None:
        before = transport.round_trips
        transport.run(["true"], timeout=30)
        transport.run(["true"], timeout=30)
        assert transport.round_trips == before + 2

    def test_a_stream_without_stdin_refuses_input(self, transport: Any) -> None:
        with transport.stream(["true"], idle_timeout=30) as s:
            with pytest.raises(TransportError):
                s.send(b"late")


class TransportContract(TransportBasics):
    def test_run_passes_stdin_and_exit_code(self, transport: Any) -> None:
        r = transport.run(["sh", "-c", "wc -c; exit 3"], stdin=b"x" * 70000, timeout=30)
        assert (r.returncode, r.stdout.strip()) == (3, b"70000")

    def test_stream_with_stdin_answers_what_it_is_sent(self, transport: Any) -> None:
        with transport.stream(["sh", "-c", 'read a; echo "got $a"; wc -c'],
                              idle_timeout=30, stdin=True) as s:
            lines = s.lines()
            s.send(b"hello\n")
            assert next(lines) == "got hello"  # before EOF: the launcher prints its facts
            s.send(b"y" * 300000)  # larger than any pipe or SSH window
            s.end_input()
            assert [x.strip() for x in lines] == ["300000"]
        assert s.returncode == 0

    def test_send_restarts_the_silence_clock(self, transport: Any) -> None:
        with transport.stream(["sh", "-c", "echo ready; read a; echo $a"], idle_timeout=2,
                              stdin=True) as s:
            lines = s.lines()
            assert next(lines) == "ready"
            time.sleep(2.5)  # the controller builds meanwhile: longer than idle_timeout
            s.send(b"bundle\n")
            assert next(lines) == "bundle"

    def test_stream_without_stdin_gets_eof_and_refuses_input(self, transport: Any) -> None:
        with transport.stream(["sh", "-c", "cat; echo done"], idle_timeout=30) as s:
            assert list(s.lines()) == ["done"]
            with pytest.raises(TransportError):
                s.send(b"late")
        assert s.returncode == 0
