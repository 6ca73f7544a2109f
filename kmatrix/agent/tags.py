"""The kmatrix.h program tags: one grammar for their two readers.

bpf_cases/include/kmatrix.h turns `__msg("text")` into the BTF decl tag
"kmx:msg:text" on the program. The agent reads the tags from the compiled
object's BTF (globals.py tags_of, then Rejection here); the controller's
catalogue reads them from the C text (catalog.py read_programs), because it needs
__description and __requires to list and plan the cases before anything is
compiled, and the build may only happen on a target. Both take the tag names,
argument kinds, BTF keys and rules from this module; tests/test_catalog.py checks
kmatrix.h against it.

Stdlib only, Python 3.7.
"""

import errno as _errno

PREFIX = "kmx:"  # every BTF decl tag kmatrix.h writes starts with this

# macro -> (BTF key, argument): None (no argument), "string" (C string literals,
# concatenated) or "name" (one identifier, stringified by the macro).
TAGS = {
    "__failure": ("failure", None),
    "__msg": ("msg", "string"),
    "__msg_or": ("msg_or", "string"),
    "__errno": ("errno", "name"),
    "__rejected_by": ("rejected_by", "name"),
    "__description": ("description", "string"),
    "__requires": ("requires", "string"),
}
METADATA = ("__description", "__requires")  # a tag-only case's metadata, not a rejection's
REJECTERS = ("verifier", "libbpf")  # what __rejected_by may name
_MACRO = dict((key, macro) for macro, (key, _arg) in TAGS.items())


def from_btf(tags):  # type: (list) -> list
    """BTF tag texts with PREFIX removed ("msg:text") -> [(macro, value)]; a value
    is None for a tag without an argument. Keys kmatrix.h does not write are left out."""
    out = []
    for tag in tags:
        key, sep, val = tag.partition(":")
        macro = _MACRO.get(key)
        if macro is not None:
            out.append((macro, val if sep or TAGS[macro][1] else None))
    return out


def problems(pairs):  # type: (list) -> list
    """What is wrong with one program's tags, [(macro, index, message)], the
    program-wide problems first: `index` is the offending tag's position in `pairs`
    ([(macro, value)], in source order), or None for a problem of the program."""
    names = [m for m, _v in pairs]
    out = []
    if "__msg_or" in names and ("__msg" not in names
                                or names.index("__msg_or") < names.index("__msg")):
        out.append(("__msg_or", None, "__msg_or(...) adds an alternative to the __msg(...) "
                                      "before it; there is none"))
    if "__failure" in names and "__msg" not in names:
        out.append(("__msg", None, "tagged __failure but names no __msg(\"...\") the "
                                   "refusal must show"))
    for i, (macro, value) in enumerate(pairs):
        if macro == "__errno" and (not (value or "").startswith("E")
                                   or not hasattr(_errno, value or "")):
            out.append((macro, i, "%s is not an errno name" % value))
        if macro == "__rejected_by" and value not in REJECTERS:
            out.append((macro, i, "say %s" % " or ".join(REJECTERS)))
        if macro in ("__msg", "__msg_or") and not value:
            out.append((macro, i, "an empty message matches anything"))
    return out


class Rejection(object):
    """What a program's tags say its load must do: `msgs` = [[alternative, ...],
    ...] (each group must match, in order), `errnos` = names (any one), `by` =
    "verifier" | "libbpf" | None. Built from BTF tag texts ("msg:text")."""

    def __init__(self, tags):
        self.failure = False
        self.msgs = []
        self.errnos = []
        self.by = None
        for macro, val in from_btf(tags):
            if macro == "__failure":
                self.failure = True
            elif macro == "__msg":
                self.msgs.append([val])
            elif macro == "__msg_or":
                if not self.msgs:
                    raise ValueError("__msg_or(%r) has no __msg before it" % val)
                self.msgs[-1].append(val)
            elif macro == "__errno":
                self.errnos.append(val)
            elif macro == "__rejected_by":
                self.by = val

    def describe(self):
        return " then ".join(" | ".join(repr(a) for a in g) for g in self.msgs)
