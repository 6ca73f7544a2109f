"""A tiny reader for kernel BTF: the names of FUNC types (kfuncs, attach targets).

Stdlib only and Python 3.7-valid: it runs on the target. Walking ~150k types in
pure Python is the cost, so the agent calls this at most once per run and only
when a case asks for `kfuncs` or `btf_funcs`.
"""

import struct

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


def func_ids(data):
    """FUNC name -> type id in a raw BTF blob (bytes); the first id wins on duplicates."""
    strs = _layout(data)[3]
    out = {}
    for tid, kind, name_off, _ref, _off in _types(data):
        if kind == KIND_FUNC:
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
