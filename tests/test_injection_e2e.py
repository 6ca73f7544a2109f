"""End-to-end: shell metacharacters in every user-controlled field never execute.

Each field gets `$(touch M)`, backticks and `;touch M` payloads, where M is a
unique marker path. The real CLI runs against a real sshd on 127.0.0.1 and real
BPF on this kernel; afterwards no marker may exist. Fields that kmatrix refuses
must be refused with a one-line error naming file, line and field.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sshd import SshdInfo, start_sshd

pytestmark = [pytest.mark.sshd, pytest.mark.bpf,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd and BPF")]

ROOT = Path(__file__).resolve().parent.parent


def _payloads(marker: str) -> list[str]:
    return [f"$(touch {marker}1)", f"`touch {marker}2`", f";touch {marker}3", f"|touch {marker}4",
            f"&&touch${{IFS}}{marker}5", f"$(id>{marker}6)"]


def _fired(marker: str) -> list[str]:
    return sorted(str(p) for p in Path(marker).parent.glob(Path(marker).name + "*"))


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    info = start_sshd(tmp_path_factory.mktemp("inj-sshd"))
    yield info
    info.stop()


@pytest.fixture
def marker() -> str:
    m = f"/tmp/kmatrix-inject-{uuid.uuid4().hex}-"
    yield m
    for p in _fired(m):
        os.unlink(p)


def _hosts(path: Path, sshd: SshdInfo, **fields: str) -> Path:
    lines = ["hosts:", "  - name: loop", "    arch: x86_64", "    address: 127.0.0.1",
             f"    port: {sshd.port}", f"    user: {sshd.user}",
             f"    identity_file: '{sshd.user_key_path}'",
             f"    known_hosts: '{sshd.known_hosts_path}'"]
    for k, v in fields.items():
        lines.append(f"    {k}: {v}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _cases(tmp: Path) -> Path:
    d = tmp / "cases"
    (d / "dynptr").mkdir(parents=True)
    for suffix in (".bpf.c", ".py"):
        shutil.copy(ROOT / "bpf_cases" / "dynptr" / f"from_mem{suffix}", d / "dynptr")
    return d


def _kmatrix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmatrix", *args], capture_output=True,
                          text=True, timeout=300, cwd=str(cwd),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _yaml_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def test_payloads_in_paths_suite_and_tags_run_but_never_execute(
        tmp_path: Path, sshd: SshdInfo, marker: str) -> None:
    pay = _payloads(marker)
    # Odd but legal directory names: output, cache, cases and the key files live there.
    odd = tmp_path / ("d" + pay[0].replace("/", "_") + pay[1].replace("/", "_") + ";x")
    odd.mkdir()
    key = odd / "id key$(x)"
    shutil.copy(sshd.user_key_path, key)
    os.chmod(key, 0o600)
    kh = odd / "known`hosts`"
    shutil.copy(sshd.known_hosts_path, kh)
    hosts = tmp_path / "hosts.yaml"
    _hosts(hosts, sshd)
    text = hosts.read_text().replace(f"'{sshd.user_key_path}'", _yaml_str(str(key)))
    text = text.replace(f"'{sshd.known_hosts_path}'", _yaml_str(str(kh)))
    hosts.write_text(text)
    suite = odd / "suite.yaml"
    suite.write_text(
        "name: " + _yaml_str("s" + pay[5].replace(" ", "")) + "\n"
        "description: " + _yaml_str(" ".join(pay)) + "\n"
        "cases: ['*']\n"
        "expectations:\n"
        "  - case: dynptr/from_mem\n"
        "    state: skip\n"
        "    reason_class: environment-blocks\n"
        "    reason: " + _yaml_str("never really skipped " + " ".join(pay)) + "\n"
        "    link: https://example.org/x\n"
        "    arch: riscv64\n")
    proc = _kmatrix("run", "--hosts", str(hosts), "--cases-dir", str(_cases(odd)), "--suite",
                    str(suite), "--output", str(odd / "out"), "--cache-dir",
                    str(odd / "cache"), "--run-id", "inj", "-k", "from_mem", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (odd / "out" / "inj" / "x86_64" / "junit.xml").is_file()
    assert '"state": "pass"' in (odd / "out" / "inj" / "results.json").read_text()
    # Reports render the hostile strings as text, escaped.
    rep = _kmatrix("report", str(odd / "out" / "inj" / "results.json"), "--output",
                   str(odd / "rep"), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert _fired(marker) == []


@pytest.mark.parametrize("field", ["python", "user", "address", "name", "tags"])
def test_payloads_in_host_fields_are_refused_or_inert(
        tmp_path: Path, sshd: SshdInfo, marker: str, field: str) -> None:
    cases = _cases(tmp_path)
    for p in _payloads(marker):
        value = f"[{_yaml_str(p)}]" if field == "tags" else _yaml_str(
            ("python3" if field == "python" else "x") + p)
        hosts = _hosts(tmp_path / "hosts.yaml", sshd, **{field: value})
        if field == "name":  # a second `name:` key: the YAML loader refuses duplicates
            hosts.write_text(hosts.read_text().replace("  - name: loop\n", "  -\n"))
        proc = _kmatrix("run", "--hosts", str(hosts), "--cases-dir", str(cases),
                        "--output", str(tmp_path / "out"), "--cache-dir",
                        str(tmp_path / "cache"), cwd=tmp_path)
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (field, p, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        # Refused up front: one line naming the file, the line and the field.
        assert len(err) == 1 and f"{hosts}:" in err[0] and field in err[0], (field, p, err)
    assert _fired(marker) == []


def test_payload_in_case_file_name_is_refused(tmp_path: Path, marker: str,
                                              sshd: SshdInfo) -> None:
    cases = _cases(tmp_path)
    bad = cases / "dynptr" / "x$(touch {m}1);y.py".replace("{m}", marker.replace("/", "_"))
    bad.write_text('CASE = {"description": "x", "build": False}\n\ndef run(t):\n    pass\n')
    hosts = _hosts(tmp_path / "hosts.yaml", sshd)
    proc = _kmatrix("run", "--hosts", str(hosts), "--cases-dir", str(cases), "--output",
                    str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in proc.stderr, err
    assert _fired(marker) == []
