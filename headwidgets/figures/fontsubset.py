"""A minimal TrueType subsetter, so exported SVGs carry the glyphs they use.

Keeps only the glyphs of the given characters (and the components of composite glyphs),
renumbered, with the tables a browser needs (``cmap`` rebuilt as format 4, ``glyf``/``loca``,
``hmtx``, ``head``, ``hhea``, ``maxp``, ``OS/2``, ``name``, ``post`` version 3, and the hinting
tables ``cvt``/``fpgm``/``prep``/``gasp``). Layout tables (GSUB, GPOS, kern, ...) are dropped:
the text was already laid out without them. Only ``glyf``-based TrueType fonts (such as DejaVu,
what the house style names) are handled; others return None and the SVG names the font
without embedding it.

Example
-------
>>> path = font_file("DejaVu Sans")
>>> data = subset(path.read_bytes(), "layer 0") if path else b"\\x00\\x01\\x00\\x00"
>>> data[:4]
b'\\x00\\x01\\x00\\x00'
"""

from __future__ import annotations

import functools
import shutil
import struct
import subprocess
from pathlib import Path

_KEEP = (b"OS/2", b"cmap", b"cvt ", b"fpgm", b"gasp", b"glyf", b"head", b"hhea", b"hmtx",
         b"loca", b"maxp", b"name", b"post", b"prep")  # fmt: skip
_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
_FILES = {"dejavu sans": "DejaVuSans.ttf", "dejavu sans mono": "DejaVuSansMono.ttf"}
# composite glyph flags
_ARGS_ARE_WORDS, _HAVE_SCALE, _MORE, _HAVE_XY_SCALE, _HAVE_2X2 = 0x1, 0x8, 0x20, 0x40, 0x80


@functools.lru_cache(maxsize=8)
def font_file(family: str) -> Path | None:
    """The TrueType file of a font family on this machine (fontconfig, then known places)."""
    name = _FILES.get(family.strip().lower())
    if name is None:
        return None
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", family], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found.endswith(name) and Path(found).is_file():
            return Path(found)
    for folder in _DIRS:
        if folder.is_dir():
            for path in folder.rglob(name):
                return path
    return None


def _tables(font: bytes) -> dict[bytes, bytes]:
    count = struct.unpack(">H", font[4:6])[0]
    out = {}
    for i in range(count):
        tag, _, offset, length = struct.unpack(">4sIII", font[12 + 16 * i : 28 + 16 * i])
        out[tag] = font[offset : offset + length]
    return out


def _cmap(table: bytes) -> dict[int, int]:
    """Character -> glyph of the font's Unicode BMP (format 4) subtable."""
    count = struct.unpack(">H", table[2:4])[0]
    for i in range(count):
        platform, encoding, offset = struct.unpack(">HHI", table[4 + 8 * i : 12 + 8 * i])
        if (platform, encoding) in ((3, 1), (0, 3)) and struct.unpack(
            ">H", table[offset : offset + 2]
        )[0] == 4:
            break
    else:
        raise ValueError("no format-4 Unicode cmap")
    sub = table[offset:]
    segments = struct.unpack(">H", sub[6:8])[0] // 2
    ends = struct.unpack(f">{segments}H", sub[14 : 14 + 2 * segments])
    at = 16 + 2 * segments
    starts = struct.unpack(f">{segments}H", sub[at : at + 2 * segments])
    deltas = struct.unpack(f">{segments}h", sub[at + 2 * segments : at + 4 * segments])
    range_at = at + 4 * segments
    offsets = struct.unpack(f">{segments}H", sub[range_at : range_at + 2 * segments])
    mapping = {}
    for s, (start, end, delta, range_offset) in enumerate(
        zip(starts, ends, deltas, offsets, strict=True)
    ):
        for char in range(start, end + 1):
            if range_offset == 0:
                glyph = (char + delta) & 0xFFFF
            else:
                where = range_at + 2 * s + range_offset + 2 * (char - start)
                glyph = struct.unpack(">H", sub[where : where + 2])[0]
                glyph = (glyph + delta) & 0xFFFF if glyph else 0
            if glyph:
                mapping[char] = glyph
    return mapping


def _components(glyph: bytes) -> list[tuple[int, int]]:
    """(offset of the glyph index, glyph index) of each component of a composite glyph."""
    if len(glyph) < 10 or struct.unpack(">h", glyph[:2])[0] >= 0:
        return []
    out, at = [], 10
    while True:
        flags, index = struct.unpack(">HH", glyph[at : at + 4])
        out.append((at + 2, index))
        at += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
        at += (
            2
            if flags & _HAVE_SCALE
            else 4
            if flags & _HAVE_XY_SCALE
            else 8
            if flags & _HAVE_2X2
            else 0
        )
        if not flags & _MORE:
            return out


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(data) // 4}I", data)) & 0xFFFFFFFF


def _cmap_table(mapping: dict[int, int]) -> bytes:
    """A format-4 cmap (platform 3, encoding 1) with one segment per character."""
    chars = sorted(c for c in mapping if c < 0xFFFF)
    segments = len(chars) + 1
    ends = [*chars, 0xFFFF]
    starts = [*chars, 0xFFFF]
    deltas = [(mapping[c] - c) & 0xFFFF for c in chars] + [1]
    search = 2 ** (segments.bit_length() - 1)
    body = struct.pack(">HHHH", 2 * segments, 2 * search, search.bit_length() - 1,
                       2 * segments - 2 * search)  # fmt: skip
    body += struct.pack(f">{segments}H", *ends) + b"\0\0"
    body += struct.pack(f">{segments}H", *starts) + struct.pack(f">{segments}H", *deltas)
    body += struct.pack(f">{segments}H", *([0] * segments))
    sub = struct.pack(">HHH", 4, 6 + len(body), 0) + body
    return struct.pack(">HHHHI", 0, 1, 3, 1, 12) + sub


def subset(font: bytes, text: str) -> bytes | None:
    """A TrueType font with only the glyphs of ``text`` (None for a font this cannot cut)."""
    tables = _tables(font)
    if b"glyf" not in tables or b"loca" not in tables:
        return None
    head, hhea, maxp = tables[b"head"], tables[b"hhea"], tables[b"maxp"]
    n_glyphs = struct.unpack(">H", maxp[4:6])[0]
    long_loca = struct.unpack(">h", head[50:52])[0] == 1
    raw = tables[b"loca"]
    if long_loca:
        loca = list(struct.unpack(f">{n_glyphs + 1}I", raw[: 4 * (n_glyphs + 1)]))
    else:  # short offsets count 2-byte words
        loca = [2 * v for v in struct.unpack(f">{n_glyphs + 1}H", raw[: 2 * (n_glyphs + 1)])]
    glyf = tables[b"glyf"]

    def glyph(gid: int) -> bytes:
        return glyf[loca[gid] : loca[gid + 1]]

    try:
        cmap = _cmap(tables[b"cmap"])
    except ValueError:
        return None
    wanted = {ord(c): cmap[ord(c)] for c in set(text) if ord(c) in cmap}
    order = [0]
    todo = sorted(set(wanted.values()))
    while todo:
        gid = todo.pop(0)
        if gid in order:
            continue
        order.append(gid)
        todo.extend(index for _, index in _components(glyph(gid)) if index not in order)
    new_id = {old: new for new, old in enumerate(order)}

    n_metrics = struct.unpack(">H", hhea[34:36])[0]
    hmtx = tables[b"hmtx"]
    metrics = b""
    for old in order:
        if old < n_metrics:
            metrics += hmtx[4 * old : 4 * old + 4]
        else:  # advance of the last long metric, then the glyph's left side bearing
            at = 4 * n_metrics + 2 * (old - n_metrics)
            metrics += hmtx[4 * (n_metrics - 1) : 4 * n_metrics - 2] + hmtx[at : at + 2]
    glyphs, offsets = b"", [0]
    for old in order:
        data = bytearray(glyph(old))
        for at, index in _components(bytes(data)):
            data[at : at + 2] = struct.pack(">H", new_id[index])
        data += b"\0" * (-len(data) % 4)
        glyphs += bytes(data)
        offsets.append(len(glyphs))

    out = {tag: tables[tag] for tag in _KEEP if tag in tables}
    out[b"glyf"], out[b"hmtx"] = glyphs, metrics
    out[b"loca"] = struct.pack(f">{len(offsets)}I", *offsets)
    out[b"cmap"] = _cmap_table({c: new_id[g] for c, g in wanted.items()})
    out[b"head"] = head[:8] + b"\0\0\0\0" + head[12:50] + struct.pack(">h", 1) + head[52:]
    out[b"hhea"] = hhea[:34] + struct.pack(">H", len(order))
    out[b"maxp"] = maxp[:4] + struct.pack(">H", len(order)) + maxp[6:]
    out[b"post"] = struct.pack(">I", 0x00030000) + tables[b"post"][4:32]

    tags = sorted(out)
    search = 2 ** (len(tags).bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, len(tags), 16 * search, search.bit_length() - 1,
                         16 * len(tags) - 16 * search)  # fmt: skip
    offset = 12 + 16 * len(tags)
    directory, body = b"", b""
    for tag in tags:
        table = out[tag]
        directory += struct.pack(">4sIII", tag, _checksum(table), offset + len(body), len(table))
        body += table + b"\0" * (-len(table) % 4)
    font_out = bytearray(header + directory + body)
    head_at = offset + sum(len(out[t]) + (-len(out[t]) % 4) for t in tags[: tags.index(b"head")])
    adjust = (0xB1B0AFBA - _checksum(bytes(font_out))) & 0xFFFFFFFF
    font_out[head_at + 8 : head_at + 12] = struct.pack(">I", adjust)
    return bytes(font_out)
