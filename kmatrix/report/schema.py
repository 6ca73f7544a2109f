"""The one schema of results.json (JSON Schema, draft 2020-12), built from the
states and classes kmatrix.results defines. Result files come from elsewhere
(CI artifacts, other machines, hand edits): report, diff and merge check them
against it before use, so a field of the wrong type is one line naming it."""

from __future__ import annotations

from typing import Any

from kmatrix.results import REASON_CLASSES, STATES, VERDICTS

_STR = {"type": ["string", "null"]}  # null: older or hand-made files; read as ""
_NUM = {"type": ["number", "null"]}
_STRS = {"type": ["array", "null"], "items": {"type": "string"}}
_OBJ = {"type": ["object", "null"]}

CASE: dict[str, Any] = {
    "type": "object",
    "required": ["case", "state"],
    "properties": {
        "case": {"type": "string", "minLength": 1},
        "family": _STR,
        "state": {"enum": list(STATES)},
        "reason": _STR,
        "reason_class": {"enum": [*REASON_CLASSES, None]},
        "duration": _NUM,
        "details": _OBJ,
        "verifier_log": _STR,
        "dmesg": _STRS,
        "output": _STR,
        "verdict": {"enum": ["", *VERDICTS, None]},
        "expectation": _OBJ,
        "attempts": {"type": ["integer", "null"], "minimum": 0},
        "description": _STR,
    },
}

HOST: dict[str, Any] = {
    "type": "object",
    "required": ["name", "arch"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "arch": {"type": "string", "minLength": 1},
        "kernel": _STR,
        "os_release": _STR,
        "env_tags": _STRS,
        "facts": _OBJ,
        "properties": {"type": ["object", "null"],
                       "additionalProperties": {"type": ["string", "number", "boolean",
                                                         "null"]}},
        "cases": {"type": ["array", "null"], "items": CASE},
        "error": _STR,
        "complete": {"type": ["boolean", "null"]},
        "timings": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
        "round_trips": {"type": ["integer", "null"]},
    },
}

RESULTS: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kmatrix results.json",
    "type": "object",
    "required": ["run_id"],
    "properties": {
        "run_id": {"type": "string", "minLength": 1},
        "suite": _STR,
        "started": _STR,
        "finished": _STR,
        "incomplete": {"type": ["boolean", "null"]},
        "shard": _STR,
        "kmatrix_version": _STR,
        "hosts": {"type": ["array", "null"], "items": HOST},
        "warnings": _STRS,
    },
}
