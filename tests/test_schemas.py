"""The published JSON Schemas (kmatrix/data/hosts.schema.json, suite.schema.json):
valid schemas, in step with the loaders' key lists, accepting every shipped and
documented example, and refusing the bad-input corpus wherever the refusal is
structural. kmatrix's own loaders stay the validators (they also check files,
cross-references and ssh configs, with FILE:LINE errors and input bounds); the
schemas are for editors and CI linters.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kmatrix import archs, inventory, suite, yamlpos
from kmatrix.errors import InputError
from kmatrix.results import CASE_REASON_CLASSES

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "kmatrix" / "data"
BAD = ROOT / "tests" / "data" / "bad"
HOSTS = json.loads((DATA / "hosts.schema.json").read_text())
SUITE = json.loads((DATA / "suite.schema.json").read_text())

# Bad inputs a schema cannot judge: they need the file system, other entries, or an
# ssh config. Each is still one FILE:LINE error from kmatrix (test_inventory.py,
# test_suite.py).
NOT_STRUCTURAL = {
    "hosts": {
        "12_duplicate_name.yaml": "uniqueness across entries",
        "19_identity_missing.yaml": "the key file must exist",
        "20_identity_too_open.yaml": "the key file's mode",
        "40_known_hosts_dir_missing.yaml": "the known_hosts directory must exist",
        "44_qemu_image_no_kernel.yaml": "a non-x86 disk needs a kernel or firmware",
        "45_qemu_client_key_too_open.yaml": "the key file's mode",
        "54_jump_unknown_name.yaml": "the jump names another entry",
        "55_jump_loop.yaml": "jump chains across entries",
        "56_jump_bad_port.yaml": "a port inside the user@host:port text",
        "57_jump_to_qemu_guest.yaml": "what the named entry is",
        "60_ssh_config_missing.yaml": "the ssh_config file must exist",
        "61_defaults_jump_unknown.yaml": "the jump names another entry",
        "63_ssh_config_bad_hostname.yaml": "a value inside the ssh config",
        "64_defaults_identity_too_open.yaml": "the key file's mode",
        "66_defaults_jump_to_local_host.yaml": "what the named entry is",
    },
    "suites": {
        "cases_no_match.yaml": "the patterns must match known cases",
        "unknown_case.yaml": "the patterns must match known cases",
    },
}


def _plain(x: Any) -> Any:
    """yamlpos data as JSON data (dates as ISO text, as a YAML-aware linter reads them)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, _dt.date):
        return x.isoformat()
    return x


def _validator(schema: dict[str, Any]) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _errors(schema: dict[str, Any], data: Any) -> list[str]:
    return [e.message for e in _validator(schema).iter_errors(data)]


@pytest.mark.parametrize("schema", [HOSTS, SUITE], ids=["hosts", "suite"])
def test_schemas_are_valid(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)


def test_hosts_schema_keys_are_the_loaders() -> None:
    defs = HOSTS["$defs"]
    assert tuple(HOSTS["properties"]) == inventory.TOP_KEYS
    assert set(defs["host"]["properties"]) == set(inventory.HOST_KEYS)
    assert set(defs["jump_host"]["properties"]) == set(inventory.JUMP_HOST_KEYS)
    assert set(defs["defaults"]["properties"]) == set(inventory.DEFAULT_KEYS)
    assert set(defs["qemu"]["anyOf"][1]["properties"]) == set(inventory.QEMU_KEYS)
    assert set(defs["image"]["properties"]) == set(inventory.IMAGE_KEYS)
    assert defs["host"]["properties"]["arch"]["enum"] == sorted(archs.ALIASES)


def test_suite_schema_keys_are_the_loaders() -> None:
    exp = SUITE["$defs"]["expectation"]
    assert tuple(SUITE["properties"]) == suite.TOP_KEYS
    assert set(exp["properties"]) == set(suite.EXP_KEYS)
    assert tuple(exp["required"]) == suite.EXP_REQUIRED
    assert exp["properties"]["reason_class"]["anyOf"][1]["enum"] == list(CASE_REASON_CLASSES)


def _doc_blocks(path: Path) -> list[tuple[int, Any]]:
    """The ```yaml blocks of a doc, each (line, data); a block that is a list of
    entries (an excerpt of `hosts:`) is wrapped as one."""
    out = []
    text = path.read_text()
    for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        data = _plain(yamlpos.loads(m.group(1), str(path)))
        if isinstance(data, list):
            data = {"hosts": data}
        out.append((text[: m.start()].count("\n") + 1, data))
    return out


def test_shipped_and_documented_inventories_validate() -> None:
    examples = [("hosts.yaml", _plain(yamlpos.load(ROOT / "hosts.yaml")))]
    for doc in ("hosts.md", "lab.md"):
        examples += [(f"docs/{doc}:{line}", data)
                     for line, data in _doc_blocks(ROOT / "docs" / doc) if "hosts" in data]
    assert len(examples) >= 8, [w for w, _ in examples]
    for where, data in examples:
        assert _errors(HOSTS, data) == [], where


def test_shipped_suites_validate() -> None:
    paths = sorted((ROOT / "suites").glob("*.yaml"))
    assert paths
    for p in paths:
        assert _errors(SUITE, _plain(yamlpos.load(p))) == [], p.name


@pytest.mark.parametrize("kind,schema", [("hosts", HOSTS), ("suites", SUITE)])
def test_schema_refuses_the_structural_bad_inputs(kind: str, schema: dict[str, Any]) -> None:
    judged = 0
    for p in sorted((BAD / kind).glob("*.yaml")):
        try:
            data = _plain(yamlpos.load(p))  # bounded: alias bombs and deep nesting stop here
        except InputError as e:  # not YAML kmatrix reads at all (syntax, bounds)
            assert p.name not in NOT_STRUCTURAL[kind], (p.name, e)
            continue
        refused = bool(_errors(schema, data))
        assert refused != (p.name in NOT_STRUCTURAL[kind]), p.name
        judged += refused
    assert judged >= (40 if kind == "hosts" else 12), judged


def test_check_jsonschema_accepts_the_shipped_files() -> None:
    # The linter a CI job would run, on the files as they are.
    exe = Path(sys.executable).with_name("check-jsonschema")
    if not exe.exists():
        pytest.skip("check-jsonschema is not installed")
    for schema, files in (("hosts", [ROOT / "hosts.yaml"]),
                          ("suite", sorted((ROOT / "suites").glob("*.yaml")))):
        proc = subprocess.run([str(exe), "--schemafile", str(DATA / f"{schema}.schema.json"),
                               *map(str, files)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
