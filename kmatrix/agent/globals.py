"""Named, typed globals of a BPF object, read from its own BTF. Stdlib only, Python 3.7.

A check writes `obj.bss.target = os.getpid()` and reads `obj.bss.hits`, as a
kernel selftest reads `skel->bss->hits`. The layout comes from the object file:
its .BTF (DATASEC ".bss"/".data"/".rodata" listing VARs and their types) and its
symbol table (clang leaves the offsets in a DATASEC at 0 for libbpf to fill in
from the symbols, so we do the same). Values go through BpfObject.section_bytes
and section_write: the section's mmap, or a map lookup/update where the kernel
cannot mmap it.

Types decode as: integers, enums and pointers -> int (signed where BTF says so),
_Bool -> bool, float/double -> float, arrays -> list (arrays of `char` -> bytes),
structs and unions -> Record (a dict whose members are also attributes).
"""

import struct

from . import btf as _btf
from .tags import PREFIX as _TAG_PREFIX

SECTIONS = (".bss", ".data", ".rodata")


class GlobalsError(Exception):
    pass


# -- ELF ------------------------------------------------------------------------------


class Elf(object):
    """Sections and symbols of a little- or big-endian ELF64 relocatable object."""

    def __init__(self, data):
        data = bytes(data)
        if data[:4] != b"\x7fELF" or data[4] != 2:
            raise GlobalsError("not an ELF64 object")
        self.endian = "<" if data[5] == 1 else ">"
        self.data = data
        e = self.endian
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
        heads = [struct.unpack_from(e + "IIQQQQIIQQ", data, shoff + i * shentsize)
                 for i in range(shnum)]
        names_off = heads[shstrndx][4]
        # (name, type, offset, size, link, entsize) per section index
        self.sections = [(self._str(names_off, h[0]), h[1], h[4], h[5], h[6], h[9])
                         for h in heads]

    def _str(self, base, off):
        end = self.data.index(b"\0", base + off)
        return self.data[base + off:end].decode("utf-8", "replace")

    def index(self, name):
        for i, sec in enumerate(self.sections):
            if sec[0] == name:
                return i
        return None

    def section(self, name):
        i = self.index(name)
        if i is None:
            return None
        _n, typ, off, size = self.sections[i][:4]
        return b"" if typ == 8 else self.data[off:off + size]  # SHT_NOBITS (.bss)

    def section_size(self, name):
        i = self.index(name)
        return None if i is None else self.sections[i][3]

    def symbols(self):
        """(name, section index, value, size) of every symbol in .symtab."""
        i = self.index(".symtab")
        if i is None:
            return []
        _n, _t, off, size, link, entsize = self.sections[i]
        str_off = self.sections[link][2]
        out = []
        for k in range(size // (entsize or 24)):
            name, _info, _other, shndx, value, sz = struct.unpack_from(
                self.endian + "IBBHQQ", self.data, off + k * (entsize or 24))
            out.append((self._str(str_off, name) if name else "", shndx, value, sz))
        return out


# -- codecs: BTF type -> Python value ---------------------------------------------------


class Record(dict):
    """A struct or union value: a dict whose members read as attributes too."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _Scalar(object):
    def __init__(self, fmt, size, signed, what, kind="int"):
        self.fmt = fmt
        self.size = size
        self.signed = signed
        self.what = what
        self.kind = kind  # int, bool, float

    def decode(self, buf, off, endian):
        v = struct.unpack_from(endian + self.fmt, buf, off)[0]
        if self.kind == "bool":
            return bool(v)
        return v

    def encode(self, value, endian, name):
        if self.kind == "float":
            return struct.pack(endian + self.fmt, float(value))
        if isinstance(value, bool) or self.kind == "bool":
            value = int(bool(value))
        if not isinstance(value, int):
            raise TypeError("%s is %s: write an int, not %s" % (name, self.what,
                                                               type(value).__name__))
        bits = 8 * self.size
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise ValueError("%d does not fit %s (%s)" % (value, name, self.what))
        return struct.pack(endian + self.fmt.upper(), value & ((1 << bits) - 1))


_FMT = {1: "b", 2: "h", 4: "i", 8: "q"}


def _int_codec(size, signed, what, kind="int"):
    if size not in _FMT:
        return _Bytes(size, what)
    fmt = _FMT[size]
    return _Scalar(fmt if signed else fmt.upper(), size, signed, what, kind)


class _Bytes(object):
    """Anything we have no better view of (odd-sized ints, char arrays): raw bytes."""

    def __init__(self, size, what):
        self.size = size
        self.what = what

    def decode(self, buf, off, endian):
        return bytes(buf[off:off + self.size])

    def encode(self, value, endian, name):
        if isinstance(value, str):
            value = value.encode()
        value = bytes(value)
        if len(value) > self.size:
            raise ValueError("%d bytes do not fit %s (%d bytes)" % (len(value), name, self.size))
        return value + b"\0" * (self.size - len(value))


class _Array(object):
    def __init__(self, elem, n, what):
        self.elem = elem
        self.n = n
        self.size = elem.size * n
        self.what = what

    def decode(self, buf, off, endian):
        return [self.elem.decode(buf, off + i * self.elem.size, endian) for i in range(self.n)]

    def encode(self, value, endian, name):
        """A shorter list writes a prefix (see _Writer)."""
        value = list(value)
        if len(value) > self.n:
            raise ValueError("%d values do not fit %s (%d elements)" % (len(value), name, self.n))
        return [(i * self.elem.size, self.elem.encode(v, endian, "%s[%d]" % (name, i)))
                for i, v in enumerate(value)]


class _Struct(object):
    def __init__(self, members, size, what):
        self.members = members  # (name, byte offset, codec) or (name, bit offset, bits, signed)
        self.size = size
        self.what = what

    def decode(self, buf, off, endian):
        rec = Record()
        for m in self.members:
            if len(m) == 3:
                rec[m[0]] = m[2].decode(buf, off + m[1], endian)
            else:  # a bitfield: read-only
                name, bit, bits, signed = m
                first = bit // 8
                last = (bit + bits + 7) // 8
                word = int.from_bytes(bytes(buf[off + first:off + last]),
                                      "little" if endian == "<" else "big")
                shift = bit - 8 * first if endian == "<" else 8 * last - bit - bits
                v = (word >> shift) & ((1 << bits) - 1)
                if signed and v >> (bits - 1):
                    v -= 1 << bits
                rec[name] = v
        return rec

    def encode(self, value, endian, name):
        """Only the members named in `value` (a dict) are written."""
        by_name = dict((m[0], m) for m in self.members)
        out = []
        for key, v in dict(value).items():
            m = by_name.get(key)
            if m is None:
                raise KeyError("%s has no member %r (members: %s)"
                               % (name, key, ", ".join(sorted(by_name))))
            if len(m) != 3:
                raise TypeError("%s.%s is a bitfield; bitfields are read-only here" % (name, key))
            enc = m[2].encode(v, endian, "%s.%s" % (name, key))
            if isinstance(enc, list):
                out += [(m[1] + o, b) for o, b in enc]
            else:
                out.append((m[1], enc))
        return out


def codec(types, tid, depth=0):
    """A codec for BTF type `tid` of an object."""
    if depth > 32:
        raise GlobalsError("BTF type %d nests too deeply" % tid)
    t = _btf.resolve(types, tid)
    if t is None:
        raise GlobalsError("a global of type void has no value")
    k = t.kind
    if k == _btf.KIND_INT:
        enc = t.extra[0]
        if enc & _btf.INT_BOOL:
            return _int_codec(t.ref, False, "_Bool", "bool")
        return _int_codec(t.ref, bool(enc & _btf.INT_SIGNED), t.name)
    if k in (_btf.KIND_ENUM, _btf.KIND_ENUM64):
        signed = t.kflag or any(v < 0 for _n, v in t.items)
        return _int_codec(t.ref, signed, "enum %s" % (t.name or "(anon)"))
    if k == _btf.KIND_PTR:
        return _int_codec(8, False, "pointer")
    if k == _btf.KIND_FLOAT:
        if t.ref not in (4, 8):
            return _Bytes(t.ref, t.name)
        return _Scalar("f" if t.ref == 4 else "d", t.ref, True, t.name, "float")
    if k == _btf.KIND_ARRAY:
        elem_id, _idx, n = t.extra
        elem = _btf.resolve(types, elem_id)
        if elem is not None and elem.kind == _btf.KIND_INT and elem.ref == 1 \
                and elem.name == "char":
            return _Bytes(n, "char[%d]" % n)
        inner = codec(types, elem_id, depth + 1)
        return _Array(inner, n, "%s[%d]" % (inner.what, n))
    if k in (_btf.KIND_STRUCT, _btf.KIND_UNION):
        members = []
        for name, mtype, bit, bits in t.items:
            if bits:
                mt = _btf.resolve(types, mtype)
                signed = mt is not None and mt.kind == _btf.KIND_INT and \
                    bool(mt.extra[0] & _btf.INT_SIGNED)
                members.append((name, bit, bits, signed))
            elif bit % 8:
                raise GlobalsError("member %s of %s is not byte aligned" % (name, t.name))
            else:
                members.append((name, bit // 8, codec(types, mtype, depth + 1)))
        kind = "struct" if k == _btf.KIND_STRUCT else "union"
        return _Struct(members, t.ref, "%s %s" % (kind, t.name or "(anon)"))
    raise GlobalsError("no Python view of BTF %s %r"
                       % (_btf.KIND_NAMES.get(k, k), t.name))


# -- an object's globals and program tags -----------------------------------------------


class Var(object):
    __slots__ = ("name", "section", "offset", "size", "type_id", "_types", "_codec")

    def __init__(self, name, section, offset, size, type_id, types):
        self.name = name
        self.section = section
        self.offset = offset
        self.size = size
        self.type_id = type_id
        self._types = types
        self._codec = None

    @property
    def codec(self):
        if self._codec is None:
            self._codec = codec(self._types, self.type_id)
        return self._codec


class ObjectInfo(object):
    """What the object's BTF says: `sections` = {".bss": {name: Var}}, `tags` =
    {function or variable name: [decl tag strings]}, `sizes` = {section: bytes}."""

    def __init__(self, elf_bytes):
        elf = Elf(elf_bytes)
        self.endian = elf.endian
        raw = elf.section(".BTF")
        if raw is None:
            raise GlobalsError("the object has no .BTF section (compile with -g)")
        types = _btf.parse(raw)
        self.types = types
        self.tags = _btf.decl_tags(types)
        self.sizes = {}
        self.sections = {}
        symbols = {}
        for name, shndx, value, _size in elf.symbols():
            if name:
                symbols.setdefault((shndx, name), value)
        for t in types:
            if t is None or t.kind != _btf.KIND_DATASEC:
                continue
            shndx = elf.index(t.name)
            if shndx is None:
                continue
            self.sizes[t.name] = elf.section_size(t.name)
            vs = {}
            for var_id, offset, size in t.items:
                var = types[var_id]
                if var is None or var.kind != _btf.KIND_VAR:
                    continue
                off = symbols.get((shndx, var.name), offset)
                if not size:
                    res = _btf.resolve(types, var.ref)
                    size = _size_of(types, res)
                vs[var.name] = Var(var.name, t.name, off, size, var.ref, types)
            self.sections[t.name] = vs

    def tags_of(self, name, prefix=_TAG_PREFIX):
        """The tags on function `name` that start with `prefix`, prefix removed."""
        return [s[len(prefix):] for s in self.tags.get(name, []) if s.startswith(prefix)]


def _size_of(types, t):
    if t is None:
        return 0
    if t.kind in (_btf.KIND_INT, _btf.KIND_ENUM, _btf.KIND_ENUM64, _btf.KIND_STRUCT,
                  _btf.KIND_UNION, _btf.KIND_FLOAT, _btf.KIND_DATASEC):
        return t.ref
    if t.kind == _btf.KIND_PTR:
        return 8
    if t.kind == _btf.KIND_ARRAY:
        return t.extra[2] * _size_of(types, _btf.resolve(types, t.extra[0]))
    return 0


class SectionView(object):
    """`obj.bss`: each global of the section is an attribute (also `view["name"]`).

    Reads decode the live section; writes encode through BpfObject.section_write
    (the mmap, or a map update). A list written to an array fills its first
    elements; a dict written to a struct sets only the members it names.
    `view._asdict()` reads every global at once."""

    def __init__(self, obj, info, section):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_info", info)
        object.__setattr__(self, "_sec", section)
        object.__setattr__(self, "_vars", info.sections.get(section, {}))

    def _var(self, name):
        try:
            return self._vars[name]
        except KeyError:
            raise AttributeError("%s of %s has no global %r (has: %s)"
                                 % (self._sec, self._obj.name, name,
                                    ", ".join(sorted(self._vars)) or "none")) from None

    def _raw(self):
        if not getattr(self._obj, "loaded", True):
            raise GlobalsError("%s of %s is read after load: call t.load() first"
                               % (self._sec, self._obj.name))
        return self._obj.section_bytes(self._sec)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        var = self._var(name)
        return var.codec.decode(self._raw(), var.offset, self._info.endian)

    def __setattr__(self, name, value):
        var = self._var(name)
        if not getattr(self._obj, "loaded", True):
            raise GlobalsError("%s.%s is written after load: call t.load() first"
                               % (self._sec, name))
        enc = var.codec.encode(value, self._info.endian, name)
        if isinstance(enc, bytes):
            enc = [(0, enc)]
        for off, data in enc:
            self._obj.section_write(var.offset + off, data, self._sec)

    __getitem__ = __getattr__
    __setitem__ = __setattr__

    def __contains__(self, name):
        return name in self._vars

    def __iter__(self):
        return iter(sorted(self._vars, key=lambda n: self._vars[n].offset))

    def __len__(self):
        return len(self._vars)

    def __dir__(self):
        return list(self._vars)

    def _asdict(self):
        raw = self._raw()
        return dict((n, v.codec.decode(raw, v.offset, self._info.endian))
                    for n, v in self._vars.items())

    def __repr__(self):
        return "<%s of %s: %s>" % (self._sec, self._obj.name, ", ".join(self))
