"""Hostile input (issue 14): every bad file or command line is refused with one short
line and exit 2, within a memory and time bound, and never with a traceback.

Each case runs the real `kmatrix` in a subprocess under RLIMIT_AS = 1.5 GiB and a
60 s timeout: before the limits in kmatrix/yamlpos.py, the alias bombs here took
2.5 GB and half a minute, `--hosts /dev/zero` died with MemoryError and deep
nesting with RecursionError. The corpus lives in tests/data/bad/ (hosts/, suites/,
health/: first line `# expect: LINE: FIELD:`); what cannot be committed (a file
over 1 MiB, a FIFO, an existing run directory, an unwritable directory) is made
here at test time.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kmatrix import cli, yamlpos
from kmatrix.errors import MAX_LINE, InputError
from kmatrix.inventory import load_hosts

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "bad"
UNREACHABLE = BAD / "cli" / "unreachable_hosts.yaml"  # good inventory, host refuses at once
MEMORY_LIMIT = 1536 << 20
EXPECT_RE = re.compile(r"^# expect: (\d+): (\S+):\s*$")
GOOD_HOST = "hosts:\n  - {name: box1, arch: x86_64, transport: local}\n"


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _kmatrix(*args: str, cwd: Path) -> str:
    """Run `kmatrix ARGS` bounded; assert exit 2 and one short line; return that line."""
    proc = subprocess.run([sys.executable, "-m", "kmatrix", *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=60, preexec_fn=_bounded,
                          env=dict(os.environ, PYTHONPATH=str(ROOT),
                                   KMATRIX_CACHE=str(cwd / "cache")))
    both = proc.stdout + proc.stderr
    assert proc.returncode == 2, both[-2000:]
    assert "Traceback" not in both, both[-2000:]
    lines = [ln for ln in both.splitlines() if ln.strip()]
    assert len(lines) == 1, lines[:5]
    assert len(lines[0]) < 400, lines[0][:1000]
    assert "\x1b" not in lines[0] and "\x00" not in lines[0], repr(lines[0])
    return lines[0]


@pytest.fixture(autouse=True)
def _too_open_key_is_too_open() -> None:
    # As in test_inventory: git keeps 0644/0755 only, and a 077 umask would hide the error.
    os.chmod(BAD / "hosts" / "keys" / "id_too_open", 0o644)


def _expect(path: Path) -> str:
    m = EXPECT_RE.match(path.read_text().splitlines()[0])
    assert m, f"{path.name}: first line must be '# expect: LINE: FIELD:'"
    return f"{path}:{m.group(1)}: {m.group(2)}: "


# -- the committed corpus, through the real command line -----------------------------

HOSTS = sorted((BAD / "hosts").glob("*.yaml"))
SUITES = sorted((BAD / "suites").glob("*.yaml"))
HEALTH = sorted((BAD / "health").glob("*.yaml"))


@pytest.mark.parametrize("path", HOSTS, ids=[p.stem for p in HOSTS])
def test_bad_hosts_file_bounded(path: Path, tmp_path: Path) -> None:
    line = _kmatrix("run", "--hosts", str(path), "--list", cwd=tmp_path)
    assert line.startswith("kmatrix: " + _expect(path)), line


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_bad_suite_bounded(path: Path, tmp_path: Path) -> None:
    line = _kmatrix("run", "--hosts", str(UNREACHABLE), "--suite", str(path), "--list",
                    cwd=tmp_path)
    assert line.startswith("kmatrix: " + _expect(path)), line


@pytest.mark.parametrize("path", HEALTH, ids=[p.stem for p in HEALTH])
def test_bad_health_rules_bounded(path: Path, tmp_path: Path) -> None:
    line = _kmatrix("run", "--hosts", str(UNREACHABLE), "--health-rules", str(path),
                    cwd=tmp_path)
    assert line.startswith("kmatrix: " + _expect(path)), line


def test_the_hostile_corpus_is_there() -> None:
    names = {p.name for p in HOSTS + SUITES + HEALTH}
    assert {"47_alias_bomb.yaml", "48_deep_nesting.yaml", "49_recursive_alias.yaml",
            "alias_bomb_field.yaml", "deep_nesting.yaml", "32_alias_bomb.yaml",
            "33_deep_nesting.yaml"} <= names
    args = {p.stem for p in (BAD / "cli").glob("*.args")}
    assert {"14_rerun_failures_negative", "15_output_is_a_file", "16_output_unwritable",
            "18_hosts_dev_zero"} <= args


# -- made at test time ---------------------------------------------------------------

def test_oversize_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(GOOD_HOST + "#" * yamlpos.MAX_BYTES + "\n")
    line = _kmatrix("run", "--hosts", str(big), "--list", cwd=tmp_path)
    assert line == f"kmatrix: {big}: file: larger than 1 MiB (limit for YAML input)"
    for flag in ("--suite", "--health-rules"):
        line = _kmatrix("run", "--hosts", str(UNREACHABLE), flag, str(big), cwd=tmp_path)
        assert "larger than 1 MiB" in line, line
    # inventory.load_hosts reads the file itself: yamlpos.loads still applies the limit.
    with pytest.raises(InputError, match="larger than 1 MiB"):
        load_hosts(big)
    # Exactly at the limit is fine (it is YAML comments after a good inventory).
    big.write_text(GOOD_HOST + "#" * (yamlpos.MAX_BYTES - len(GOOD_HOST) - 1) + "\n")
    assert [h.name for h in load_hosts(big)] == ["box1"]
    assert yamlpos.load(big)["hosts"][0]["name"] == "box1"


def test_read_is_bounded_even_when_stat_says_nothing(monkeypatch: Any) -> None:
    # /proc files say st_size 0, and a file can grow after stat(): the read itself stops
    # at limit + 1 bytes. With the stat checks disabled, /dev/zero shows it.
    monkeypatch.setattr(yamlpos, "_check_stat", lambda *a: None)
    with pytest.raises(InputError, match="larger than 100 bytes"):
        yamlpos.read_text("/dev/zero", limit=100)


@pytest.mark.parametrize("flag", ["--hosts", "--health-rules"])
def test_dev_zero_and_other_non_files_are_refused(flag: str, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it would block forever: it must be refused before open()
    extra = [] if flag == "--hosts" else ["--hosts", str(UNREACHABLE)]
    for path, kind in (("/dev/zero", "a character device"), (str(fifo), "a FIFO"),
                       (str(tmp_path), "a directory")):
        line = _kmatrix("run", *extra, flag, path, cwd=tmp_path)
        assert line == f"kmatrix: {path}: file: not a regular file ({kind}); give a YAML file"


def test_probe_refuses_dev_zero_too(tmp_path: Path) -> None:
    line = _kmatrix("probe", "--hosts", "/dev/zero", cwd=tmp_path)
    assert "not a regular file (a character device)" in line


def test_alias_limits(tmp_path: Path) -> None:
    # Many cheap alias uses: refused at use MAX_ALIASES + 1, on its line.
    many = "x: &x 1\nl:\n" + "  - *x\n" * (yamlpos.MAX_ALIASES + 1)
    with pytest.raises(InputError) as ei:
        yamlpos.loads(many, "many.yaml")
    assert ei.value.line == yamlpos.MAX_ALIASES + 2 + 1 and ei.value.field == "yaml"
    assert f"more than {yamlpos.MAX_ALIASES} alias uses" in str(ei.value)
    # Few uses of a big scalar: characters count, so a 600 KB string twice is refused.
    big = "s: &s " + "x" * 600_000 + "\nt: [*s, *s]\n"
    with pytest.raises(InputError, match="aliases expand to more than 1,000,000"):
        yamlpos.loads(big, "big.yaml")
    # Ordinary anchors and merge keys still work, with line numbers.
    ok = yamlpos.loads("d: &d {port: 22, user: root}\nhosts:\n  - {<<: *d, name: a}\n"
                       "  - {<<: *d, name: b, port: 2222}\n", "ok.yaml")
    assert ok["hosts"][1] == {"port": 2222, "user": "root", "name": "b"}
    assert ok["hosts"].line_of(1) == 4


def test_depth_limit_is_exact() -> None:
    deep_ok = "[" * yamlpos.MAX_DEPTH + "]" * yamlpos.MAX_DEPTH
    assert yamlpos.loads(deep_ok, "ok.yaml") is not None
    deeper = "[" * (yamlpos.MAX_DEPTH + 1) + "]" * (yamlpos.MAX_DEPTH + 1)
    with pytest.raises(InputError, match=f"nested more than {yamlpos.MAX_DEPTH} levels"):
        yamlpos.loads(deeper, "deep.yaml")


def test_long_and_hostile_values_are_clipped_and_escaped(tmp_path: Path) -> None:
    # A 100 KB host name (invalid) and an unknown key carrying terminal escapes.
    long_name = tmp_path / "long.yaml"
    long_name.write_text(f"hosts:\n  - name: '{'n' * 100_000}'\n    arch: x86_64\n")
    line = _kmatrix("run", "--hosts", str(long_name), "--list", cwd=tmp_path)
    assert line.startswith(f"kmatrix: {long_name}:2: name: ") and "chars cut]..." in line
    esc = tmp_path / "esc.yaml"
    esc.write_text('hosts:\n  - name: box1\n    arch: x86_64\n    transport: local\n'
                   '    "tag\\e]0;pwned\\a\\e[2J": 1\n')
    line = _kmatrix("run", "--hosts", str(esc), "--list", cwd=tmp_path)
    assert line.startswith(f"kmatrix: {esc}:5: tag\\x1b]0;pwned\\x07\\x1b[2J: "), line


def test_input_error_renders_one_bounded_line_and_keeps_the_raw_value() -> None:
    raw = "got " + repr(["lol"] * 1_000_000) + "\nsecond line\x1b[2J; expected a name"
    e = InputError("f.yaml", 3, "state", raw)
    text = str(e)
    assert "\n" not in text and "\x1b" not in text
    assert len(text) <= MAX_LINE + 30  # + the "...[N chars cut]..." note
    assert text.startswith("f.yaml:3: state: got ['lol', 'lol'")
    assert text.endswith("; expected a name")  # the explanation after the value survives
    assert e.message == raw  # only the rendering is bounded


def test_run_id_that_exists_is_refused_and_left_alone(tmp_path: Path) -> None:
    old = tmp_path / "results" / "r1"
    old.mkdir(parents=True)
    (old / "results.json").write_text("{}")
    line = _kmatrix("run", "--hosts", str(UNREACHABLE), "--output", "results", "--run-id", "r1",
                    cwd=tmp_path)
    assert line == ("kmatrix: --run-id: run-id: results/r1 exists; "
                    "choose another --run-id or remove it")
    assert sorted(p.name for p in old.iterdir()) == ["results.json"]
    assert (old / "results.json").read_text() == "{}"


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_text("x")
    line = _kmatrix("run", "--hosts", str(UNREACHABLE), "--output", str(f), cwd=tmp_path)
    assert line == f"kmatrix: --output: output: {f} exists and is not a directory"
    for cmd in (["report", str(ROOT / "nope")], ["merge", str(ROOT / "nope")]):
        # report/merge check their inputs first, so give them one to fail on last.
        line = _kmatrix(*cmd, "--output", str(f), cwd=tmp_path)
        assert "results" in line


def _unwritable(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        return d / "sub"
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("root without sysfs: no directory that root cannot write")
    return Path("/sys/kmatrix-hostile-test")  # sysfs refuses mkdir, even to root


@pytest.mark.parametrize("flag", ["--output", "--cache-dir"])
def test_unwritable_output_and_cache_are_refused_before_connecting(
        flag: str, tmp_path: Path) -> None:
    target = _unwritable(tmp_path)
    line = _kmatrix("run", "--hosts", str(UNREACHABLE), flag, str(target), cwd=tmp_path)
    assert line.startswith(f"kmatrix: {flag}: {flag[2:]}: cannot write to {target}: "), line
    assert not (tmp_path / "results").exists() or flag == "--output"


@pytest.mark.parametrize("value", ["-5", "-1", "x", "101", "9" * 5000])
def test_rerun_failures_must_be_a_small_non_negative_int(value: str, tmp_path: Path) -> None:
    line = _kmatrix("run", "--rerun-failures", value, cwd=tmp_path)
    assert "argument --rerun-failures: expected a whole number from 0 to 100" in line


# -- no traceback, ever --------------------------------------------------------------

@pytest.mark.parametrize("exc", [RuntimeError("boom\x1b[2J" + "x" * 5000), MemoryError(),
                                 RecursionError("maximum recursion depth exceeded")])
def test_unexpected_exception_goes_to_a_file(exc: BaseException, tmp_path: Path,
                                             monkeypatch: Any, capsys: Any) -> None:
    def broken(_a: Any) -> int:
        raise exc

    monkeypatch.setattr(cli, "cmd_diff", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert cli.main(["diff", "a", "b"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert len(line) < 400 and "\x1b" not in line and "Traceback" not in line
    log = tmp_path / f"kmatrix-internal-error-{os.getpid()}.log"
    assert line.startswith(f"kmatrix: internal error ({type(exc).__name__}")
    assert line.endswith(f"traceback in {log}; please report it")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and type(exc).__name__ in text
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    # A second error in the same process does not overwrite the first file.
    assert cli.main(["diff", "a", "b"]) == 2
    second = capsys.readouterr().err
    assert str(log) not in second and "kmatrix-internal-error-" in second


def test_internal_error_in_a_real_process(tmp_path: Path) -> None:
    # The whole path, as a user meets it: a bug inside a command, TMPDIR honoured.
    code = ("import sys\nfrom kmatrix import cli\n"
            "def boom(a):\n    raise ZeroDivisionError('bug')\n"
            "cli.cmd_merge = boom\nsys.exit(cli.main(['merge', 'x', '--output', 'o']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path), preexec_fn=_bounded,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path)))
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    m = re.search(r"traceback in (\S+);", line)
    assert m and Path(m.group(1)).parent == tmp_path, line
    assert "ZeroDivisionError: bug" in Path(m.group(1)).read_text()


def test_keyboard_interrupt_keeps_its_behaviour(monkeypatch: Any, capsys: Any) -> None:
    def interrupted(_a: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_diff", interrupted)
    assert cli.main(["diff", "a", "b"]) == 130
    assert capsys.readouterr().err == "kmatrix: interrupted\n"
