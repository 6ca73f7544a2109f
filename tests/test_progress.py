"""Live progress: a rich table per host on a terminal, plain lines otherwise.

The unit tests drive kmatrix.progress.Progress directly; the end-to-end ones run
the real `kmatrix run` on a `transport: local` host, once with stderr on a
pseudo-terminal (live table) and once on a pipe (plain lines, as in CI logs).
"""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kmatrix.progress import Progress, phase_of, want_live

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


def test_phase_is_read_from_runner_messages() -> None:
    assert phase_of("connecting to root@127.0.0.1:22") == "connect"
    assert phase_of("booting QEMU guest (TCG)") == "boot"
    assert phase_of("building 5 case(s) against the target's BTF") == "build"
    assert phase_of("fetching /sys/kernel/btf/vmlinux") == "btf"
    assert phase_of("kernel 6.1.0, Debian, libbpf 1.1, tags -") == "preflight"
    assert phase_of("ERROR: host x: refused") == "error"
    assert phase_of("something else") is None


def test_not_a_tty_means_plain_lines() -> None:
    buf = io.StringIO()
    assert want_live(buf) is False
    p = Progress(stream=buf)
    assert p.live is False
    p.host("h1", "connecting to root@127.0.0.1:22")
    p.case("h1", 1, 2, "kfunc/a", "pass")
    p.case("h1", 2, 2, "kfunc/b", "skip", "kernel lacks bpf_x")
    lines = buf.getvalue().splitlines()
    assert re.fullmatch(r"\s*\d+\.\ds \[h1\] connecting to root@127\.0\.0\.1:22", lines[0])
    assert lines[1].endswith("[h1] case 1/2 kfunc/a: PASS  (pass=1)")
    assert lines[2].endswith("[h1] case 2/2 kfunc/b: SKIP - kernel lacks bpf_x  (pass=1 skip=1)")
    snap = p.snapshot()["h1"]
    assert (snap.phase, snap.done, snap.total) == ("done", 2, 2)


@pytest.mark.parametrize("env,live", [({}, True), ({"NO_COLOR": "1"}, False),
                                      ({"TERM": "dumb"}, False),
                                      ({"NO_COLOR": "1", "KMATRIX_PROGRESS": "live"}, True)])
def test_terminal_gets_live_unless_no_color_or_dumb(env: dict[str, str], live: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("NO_COLOR", "KMATRIX_PROGRESS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert want_live(tty) is live
    finally:
        os.close(master)
        os.close(slave)


def test_live_table_is_drawn_by_rich_live_and_stops_on_close() -> None:
    buf = io.StringIO()
    p = Progress(stream=buf, live=True)
    p.phase("h1", "run", total=1)
    assert p._live is not None and p._live.is_started
    p.case("h1", 1, 1, "kfunc/a", "pass")
    live = p._live
    p.close()
    assert not live.is_started and p._live is None
    drawn = buf.getvalue()
    p.host("h1", "after close")  # nothing is drawn over what the caller prints next
    assert buf.getvalue() == drawn
    assert drawn.endswith("\x1b[?25h")  # the cursor is shown again


def test_plain_lines_stay_whole_under_concurrent_hosts() -> None:
    buf = io.StringIO()
    p = Progress(stream=buf, live=False)

    def host(name: str) -> None:
        for i in range(1, 51):
            p.case(name, i, 50, f"fam/c{i}", "pass")

    threads = [threading.Thread(target=host, args=(f"h{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 200
    assert all(re.fullmatch(r"\s*\d+\.\ds \[h\d\] case \d+/50 fam/c\d+: PASS  \(pass=\d+\)", ln)
               for ln in lines)
    assert {n: s.counts["pass"] for n, s in p.snapshot().items()} == {f"h{n}": 50 for n in range(4)}


def test_quiet_prints_nothing() -> None:
    buf = io.StringIO()
    p = Progress(stream=buf, quiet=True, live=True)
    p.host("h", "connecting to x")
    p.case("h", 1, 1, "a/b", "fail", "boom")
    p.close()
    assert buf.getvalue() == ""


def test_live_table_per_host() -> None:
    buf = io.StringIO()
    p = Progress(stream=buf, live=True)
    p.host("kmatrix", "run r1: 2 host(s), 3 case(s)")
    p.host("lab-a", "connecting to root@127.0.0.1:2222")
    p.host("lab-b", "building 3 case(s) against the target's BTF")
    p.case("lab-a", 1, 3, "kfunc/a", "pass")
    p.case("lab-a", 2, 3, "kfunc/b", "fail", "hits=0")
    p.case("lab-a", 3, 3, "kfunc/c", "xfail", "known")
    p.case("lab-b", 1, 3, "dynptr/x", "skip", "kernel-lacks")
    p.close()
    p.close()  # idempotent
    out = _plain(buf.getvalue())
    # The last frame of the table is what stays on screen.
    frame = out[out.rfind("kmatrix  "):]
    rows = {ln.split()[1]: ln for ln in frame.splitlines() if ln.strip().startswith(("│ lab", "┃ lab", "| lab"))}
    assert set(rows) == {"lab-a", "lab-b"}, frame
    a = rows["lab-a"].replace("│", " ").split()
    assert a[:7] == ["lab-a", "done", "3/3", "1", "1", "0", "1"], a
    assert "kfunc/c" in rows["lab-a"] and "xfail" in rows["lab-a"]
    b = rows["lab-b"].replace("│", " ").split()
    assert b[:7] == ["lab-b", "run", "1/3", "0", "0", "1", "0"], b
    # Notable events also go to the scrollback above the table.
    assert "[lab-a] kfunc/b: FAIL - hits=0" in out
    assert "run r1: 2 host(s), 3 case(s)" in out
    assert "case 1/3" not in out  # no plain lines in live mode


def _hosts(tmp: Path) -> Path:
    (tmp / "hosts.yaml").write_text("hosts:\n  - name: here\n    arch: x86_64\n    transport: local\n")
    return tmp / "hosts.yaml"


def _argv(tmp: Path) -> list[str]:
    return [sys.executable, "-m", "kmatrix.cli", "run", "--hosts", str(_hosts(tmp)),
            "--output", str(tmp / "results"),
            # content-addressed build cache shared by this session's kmatrix tests
            "--cache-dir", str(tmp.parent / "kmatrix-build-cache"),
            "-k", "dynptr/ringbuf"]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="140")
    env.pop("KMATRIX_PROGRESS", None)
    return env


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="local transport BPF needs root")


@needs_root
@pytest.mark.bpf
def test_real_run_on_a_terminal_shows_the_live_table(tmp_path: Path) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(_argv(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave, env=_env(), cwd=tmp_path)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], 300)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out, _ = proc.communicate(timeout=300)
    tty = _plain(b"".join(chunks).decode(errors="replace"))
    assert proc.returncode == 0, tty + out.decode()
    assert "┃ host" in tty or "│ host" in tty, tty  # rich's table header
    row = [ln for ln in tty.splitlines() if "│ here" in ln][-1].replace("│", " ").split()
    assert row[:4] == ["here", "done", "1/1", "1"], row  # the ringbuf case passed
    assert "case 1/1" not in tty, "no plain lines on a terminal"


@needs_root
@pytest.mark.bpf
def test_real_run_on_a_pipe_prints_plain_lines(tmp_path: Path) -> None:
    proc = subprocess.run(_argv(tmp_path), capture_output=True, text=True, env=_env(),
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b[" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert any(re.search(r"\[here\] connecting to ", ln) for ln in lines), proc.stderr
    assert any(ln.endswith("[here] case 1/1 dynptr/ringbuf: PASS  (pass=1)") for ln in lines), \
        proc.stderr
