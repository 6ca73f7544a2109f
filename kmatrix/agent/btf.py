"""A tiny reader for kernel BTF: the names of FUNC types (kfuncs, attach targets).

Stdlib only and Python 3.7-valid: it runs on the target. Walking ~110k types in
pure Python is the cost (about 0.4 s on riscv64 under TCG), so the agent calls
this at most once per run.
"""

import array
import struct
import sys

VMLINUX = "/sys/kernel/btf/vmlinux"

BTF_MAGIC = 0xEB9F
KIND_FUNC = 12

# Bytes that follow the 12-byte `struct btf_type` for each kind: (fixed, per vlen).
_EXTRA = {
    1: (4, 0),    # INT
    2: (0, 0),    # PTR
    3: (12, 0),   # ARRAY
    4: (0, 12),   # STRUCT
    5: (0, 12),   # UNION
    6: (0, 8),    # ENUM
    7: (0, 0),    # FWD
    8: (0, 0),    # TYPEDEF
    9: (0, 0),    # VOLATILE
    10: (0, 0),   # CONST
    11: (0, 0),   # RESTRICT
    12: (0, 0),   # FUNC
    13: (0, 8),   # FUNC_PROTO
    14: (4, 0),   # VAR
    15: (0, 12),  # DATASEC
    16: (0, 0),   # FLOAT
    17: (4, 0),   # DECL_TAG
    18: (0, 0),   # TYPE_TAG
    19: (0, 12),  # ENUM64
}


class BTFError(Exception):
    pass


def _cstr(strs, off):
    end = strs.find(b"\0", off)
    if end < 0:
        end = len(strs)
    return strs[off:end].decode("utf-8", "replace")


def _layout(data):
    """(endian, types_start, types_end, strings) of a raw BTF blob."""
    if len(data) < 24:
        raise BTFError("BTF blob too short (%d bytes)" % len(data))
    magic = struct.unpack_from("<H", data, 0)[0]
    if magic == BTF_MAGIC:
        endian = "<"
    elif struct.unpack_from(">H", data, 0)[0] == BTF_MAGIC:
        endian = ">"
    else:
        raise BTFError("bad BTF magic 0x%04x" % magic)
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(endian + "5I", data, 4)
    types_start = hdr_len + type_off
    types_end = types_start + type_len
    strs_start = hdr_len + str_off
    if types_end > len(data) or strs_start + str_len > len(data):
        raise BTFError("BTF header points past the end of the blob")
    strs = bytes(data[strs_start:strs_start + str_len])
    return endian, types_start, types_end, strs


def _types(data):
    """Yield (type id, kind, name_off, size_or_type, offset) for each BTF type."""
    endian, types_start, types_end, strs = _layout(data)
    unpack = struct.Struct(endian + "III").unpack_from
    extra = _EXTRA
    tid = 1  # type ids start at 1 (0 is void) in a base BTF blob
    off = types_start
    while off < types_end:
        name_off, info, ref = unpack(data, off)
        kind = (info >> 24) & 0x1F
        try:
            fixed, per = extra[kind]
        except KeyError:
            raise BTFError("unknown BTF kind %d at offset %d" % (kind, off)) from None
        yield tid, kind, name_off, ref, off
        off += 12 + fixed + per * (info & 0xFFFF)
        tid += 1


# _EXTRA in 32-bit words, indexed by kind (None: unknown kind), for the fast walk.
_FIXED_WORDS = [None] * 32
_PER_WORDS = [0] * 32
for _k, (_fixed, _per) in _EXTRA.items():
    _FIXED_WORDS[_k] = 3 + _fixed // 4
    _PER_WORDS[_k] = _per // 4
del _k, _fixed, _per


def _words(data, start):
    """data[start:] as native unsigned 32-bit words (whole words only), or None when
    the platform's array("I") is not 4 bytes wide."""
    words = array.array("I")
    if words.itemsize != 4:
        return None
    end = start + (len(data) - start) // 4 * 4
    words.frombytes(memoryview(data)[start:end])  # no intermediate copy
    return words


def func_ids(data):
    """FUNC name -> type id in a raw BTF blob (bytes); the first id wins on duplicates.

    The walk that `_types` does, flattened: on a ~5 MB vmlinux BTF (~110k types)
    this is the agent's largest start-up cost under emulation, so the records are
    read as 32-bit words from one array and only FUNC names are decoded."""
    endian, types_start, types_end, strs = _layout(data)
    words = _words(data, types_start)
    if words is None:  # pragma: no cover - no such Linux platform
        out = {}
        for tid, kind, name_off, _ref, _off in _types(data):
            if kind == KIND_FUNC:
                out.setdefault(_cstr(strs, name_off), tid)
        return out
    if (endian == "<") != (sys.byteorder == "little"):
        words.byteswap()
    fixed, per = _FIXED_WORDS, _PER_WORDS
    limit = (types_end - types_start + 3) // 4  # a record starting before types_end
    name_offs = []
    tids = []
    i = 0
    tid = 1
    try:
        while i < limit:
            info = words[i + 1]
            kind = (info >> 24) & 0x1F
            size = fixed[kind]
            if size is None:
                raise BTFError("unknown BTF kind %d at offset %d" % (kind, types_start + 4 * i))
            if kind == KIND_FUNC:
                name_offs.append(words[i])
                tids.append(tid)
            i += size + per[kind] * (info & 0xFFFF)
            tid += 1
    except IndexError:
        raise BTFError("BTF type %d at offset %d runs past the end of the blob"
                       % (tid, types_start + 4 * i)) from None
    out = {}
    if strs.isascii():  # kernel BTF names are ASCII: decode the section once
        text = strs.decode("ascii")
        find = text.find
        for name_off, tid in zip(name_offs, tids):
            end = find("\0", name_off)
            out.setdefault(text[name_off:end] if end >= 0 else text[name_off:], tid)
    else:
        for name_off, tid in zip(name_offs, tids):
            out.setdefault(_cstr(strs, name_off), tid)
    return out


def func_names(data):
    """Return the set of FUNC type names in a raw BTF blob (bytes)."""
    return set(func_ids(data))


KIND_DECL_TAG = 17
KFUNC_TAG = "bpf_kfunc"


def kfunc_names(data):
    """FUNC names that a DECL_TAG "bpf_kfunc" (component_idx -1) points at.

    Kernels >= 6.8 built with pahole >= 1.26 tag every registered kfunc; the set
    is empty on older ones (callers then fall back to known names).
    """
    endian, _start, _end, strs = _layout(data)
    comp = struct.Struct(endian + "i").unpack_from
    funcs = {}  # type id -> name
    tagged = set()  # type ids a bpf_kfunc tag points at
    for tid, kind, name_off, ref, off in _types(data):
        if kind == KIND_FUNC:
            funcs[tid] = _cstr(strs, name_off)
        elif kind == KIND_DECL_TAG and comp(data, off + 12)[0] == -1 \
                and _cstr(strs, name_off) == KFUNC_TAG:
            tagged.add(ref)
    return set(funcs[t] for t in tagged if t in funcs)


def vmlinux_func_ids(path=VMLINUX):
    """FUNC name -> type id of the running kernel's BTF; raises OSError/BTFError.
    One walk serves both the requirement checks (names) and the probes (ids)."""
    with open(path, "rb") as f:
        data = f.read()
    return func_ids(data)


def vmlinux_func_names(path=VMLINUX):
    """FUNC names of the running kernel's BTF; raises OSError/BTFError."""
    return set(vmlinux_func_ids(path))


# -- an object's own BTF (the .BTF section of a .bpf.o) ---------------------------------
#
# The vmlinux walk above only needs names; a check reading the object's globals needs
# the types themselves: sizes, signedness, array lengths, struct members.

KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT, KIND_TYPE_TAG, KIND_ENUM64 = \
    13, 14, 15, 16, 18, 19
KIND_NAMES = {1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM", 7: "FWD",
              8: "TYPEDEF", 9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC",
              13: "FUNC_PROTO", 14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG",
              18: "TYPE_TAG", 19: "ENUM64"}
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
# Kinds that only qualify or rename another type.
MODIFIERS = (KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG)


class Type(object):
    """One BTF type record. `ref` is size or type id (per kind); `items` holds the
    members (STRUCT/UNION: (name, type, bit offset, bitfield size)), the enumerators
    (ENUM/ENUM64: (name, value)), the variables (DATASEC: (type, offset, size)) or the
    parameters (FUNC_PROTO: (name, type)); `extra` the kind's fixed data (INT:
    (encoding, bit offset, bits), ARRAY: (elem type, index type, count), VAR: linkage,
    DECL_TAG: component index)."""

    __slots__ = ("id", "kind", "name", "ref", "kflag", "items", "extra")

    def __init__(self, tid, kind, name, ref, kflag, items, extra):
        self.id = tid
        self.kind = kind
        self.name = name
        self.ref = ref
        self.kflag = kflag
        self.items = items
        self.extra = extra

    def __repr__(self):
        return "<BTF %s %r #%d>" % (KIND_NAMES.get(self.kind, self.kind), self.name, self.id)


def parse(data):
    """Every type of a raw BTF blob as a list indexed by type id (index 0 is void: None)."""
    endian, _start, _end, strs = _layout(data)
    u32 = struct.Struct(endian + "I").unpack_from
    i32 = struct.Struct(endian + "i").unpack_from
    types = [None]
    for tid, kind, name_off, ref, off in _types(data):
        info = u32(data, off + 4)[0]
        vlen, kflag = info & 0xFFFF, bool(info >> 31)
        body = off + 12
        items, extra = (), None
        if kind == KIND_INT:
            v = u32(data, body)[0]
            extra = ((v >> 24) & 0x0F, (v >> 16) & 0xFF, v & 0xFF)
        elif kind == KIND_ARRAY:
            extra = struct.unpack_from(endian + "III", data, body)
        elif kind in (KIND_STRUCT, KIND_UNION):
            items = []
            for i in range(vlen):
                m_name, m_type, m_off = struct.unpack_from(endian + "III", data, body + 12 * i)
                if kflag:
                    items.append((_cstr(strs, m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
                else:
                    items.append((_cstr(strs, m_name), m_type, m_off, 0))
        elif kind == KIND_ENUM:
            fmt = endian + ("i" if kflag else "I")
            items = [(_cstr(strs, u32(data, body + 8 * i)[0]),
                      struct.unpack_from(fmt, data, body + 8 * i + 4)[0]) for i in range(vlen)]
        elif kind == KIND_ENUM64:
            items = []
            for i in range(vlen):
                e_name, lo, hi = struct.unpack_from(endian + "III", data, body + 12 * i)
                v = (hi << 32) | lo
                if kflag and v >> 63:
                    v -= 1 << 64
                items.append((_cstr(strs, e_name), v))
        elif kind == KIND_FUNC_PROTO:
            items = [(_cstr(strs, u32(data, body + 8 * i)[0]), u32(data, body + 8 * i + 4)[0])
                     for i in range(vlen)]
        elif kind == KIND_VAR:
            extra = u32(data, body)[0]
        elif kind == KIND_DATASEC:
            items = [struct.unpack_from(endian + "III", data, body + 12 * i) for i in range(vlen)]
        elif kind == KIND_DECL_TAG:
            extra = i32(data, body)[0]
        types.append(Type(tid, kind, _cstr(strs, name_off), ref, kflag, items, extra))
    return types


def resolve(types, tid):
    """The type behind typedefs and qualifiers (None for void)."""
    seen = 0
    t = types[tid] if 0 <= tid < len(types) else None
    while t is not None and t.kind in MODIFIERS:
        seen += 1
        if seen > 64:
            raise BTFError("type loop at BTF type %d" % tid)
        t = types[t.ref] if 0 <= t.ref < len(types) else None
    return t


def decl_tags(types):
    """FUNC/VAR name -> the strings of the DECL_TAGs on it (component -1), in BTF
    order, which is source order: clang emits a declaration's tags as written."""
    out = {}
    for t in types:
        if t is None or t.kind != KIND_DECL_TAG or t.extra != -1:
            continue
        target = types[t.ref] if 0 < t.ref < len(types) else None
        if target is not None and target.kind in (KIND_FUNC, KIND_VAR):
            out.setdefault(target.name, []).append(t.name)
    return out
