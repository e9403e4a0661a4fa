"""Minimal reader for R lazy-load data (.rdx index + .rdb objects), enough for character vectors.

R's lazy-load format: the .rdx file is a gzip'd R serialization of a list whose `variables`
entry maps object names to (offset, length) in the .rdb file; each .rdb record is a 4-byte
big-endian uncompressed length followed by a zlib stream holding one XDR serialization.
Only the SEXP types that appear in plain data vectors are supported; anything else raises.
"""
import gzip
import struct
import zlib

# SEXP type codes and special markers from R's serialize.c (documented in R Internals, 1.8).
NILSXP, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 0, 1, 2, 9, 10, 13, 14, 16, 19
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP = 255, 254, 253, 242, 241


class _Reader:
    def __init__(self, buf):
        self.b, self.p, self.refs = buf, 0, []

    def int(self):
        (v,) = struct.unpack_from(">i", self.b, self.p)
        self.p += 4
        return v

    def length(self):
        n = self.int()
        if n == -1:  # long vector: two ints, upper then lower 32 bits
            hi, lo = self.int(), self.int()
            n = (hi << 32) | (lo & 0xFFFFFFFF)
        return n

    def header(self):
        if self.b[:2] != b"X\n":
            raise ValueError("not an XDR R serialization")
        self.p = 2
        version = self.int()
        self.int(), self.int()
        if version == 3:
            n = self.int()  # native encoding name
            self.p += n

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if t in (NILVALUE_SXP, NILSXP, GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP):
            return None
        if t == REFSXP:
            idx = flags >> 8
            return self.refs[(idx if idx else self.int()) - 1]
        if t == SYMSXP:
            name = self.item()
            self.refs.append(name)
            return name
        if t == CHARSXP:
            n = self.int()
            if n == -1:
                return None  # NA_character_
            s = self.b[self.p:self.p + n].decode("utf-8", errors="strict")
            self.p += n
            return s
        if t == LISTSXP:  # pairlist: attr?, tag?, car, cdr
            out = {}
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out[tag if tag is not None else len(out)] = self.item()
                flags = self.int()
                t, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
                if t in (NILVALUE_SXP, NILSXP):
                    return out
                if t != LISTSXP:
                    raise ValueError(f"unsupported pairlist tail type {t}")
        if t in (LGLSXP, INTSXP):
            n = self.length()
            v = list(struct.unpack_from(f">{n}i", self.b, self.p))
            self.p += 4 * n
        elif t == REALSXP:
            n = self.length()
            v = list(struct.unpack_from(f">{n}d", self.b, self.p))
            self.p += 8 * n
        elif t in (STRSXP, VECSXP):
            v = [self.item() for _ in range(self.length())]
        else:
            raise ValueError(f"unsupported R SEXP type {t}")
        if has_attr:
            attrs = self.item()
            names = attrs.get("names") if isinstance(attrs, dict) else None
            if t == VECSXP and names:
                return dict(zip(names, v))
        return v


def _unserialize(buf):
    r = _Reader(buf)
    r.header()
    return r.item()


def read_lazyload(rdx_path, rdb_path):
    """Returns {object name: value} for every object in an R lazy-load database."""
    index = _unserialize(gzip.open(rdx_path).read() if open(rdx_path, "rb").read(2) == b"\x1f\x8b"
                         else zlib.decompress(open(rdx_path, "rb").read()[4:]))
    rdb = open(rdb_path, "rb").read()
    out = {}
    for name, (offset, length) in index["variables"].items():
        rec = rdb[int(offset):int(offset) + int(length)]
        out[name] = _unserialize(zlib.decompress(rec[4:]))
    return out
