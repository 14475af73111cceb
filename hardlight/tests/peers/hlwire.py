"""hlwire: the hardlight wire protocol for Python peers, from docs/PROTOCOL.md alone (stdlib only).

- A WebSocket client over TLS (any certificate) offering a subprotocol list (§2): `connect`, `send`,
  `send_together`, `recv`, `expect_close`.
- Frames (§5): `call_frame` (with or without a deadline), `cancel_frame`, `read_reply`; for
  streaming calls (§5.11) `credit_frame`, and `parse_frame` and `read_frame`, which also read
  `OPENED` and `ITEM` frames.
- Values (§4): each type of §4.3 is an object with `size` (its fixed part), `serialize(w, value)`
  (writes the value's out-of-line data and returns what `resolve` needs), `resolve(value, resolver,
  at)` (the fixed part's bytes, for a fixed part written at archive offset `at`) and `read(r, at)`
  (the value whose fixed part is at `at`). `encode(ty, value)` and `decode(ty, data)` do a whole
  archive: out-of-line data first, the root last.

Python values: integers, floats, bool, one-character str for `char`, str for `String`, lists for
`Vec` and arrays, tuples for tuples and structs, None or the value for `Option`, `(variant name,
[fields])` for enums (`Ok(x)`/`Err(e)` build those of `Result`), `Shared` for `Arc`, dicts (or
lists of pairs, to choose the insertion order) for maps, lists or sets for sets.
"""
import base64
import os
import socket
import ssl
import struct

# ---------------------------------------------------------------------------------------------
# WebSocket (RFC 6455) over TLS, just enough for a client


def connect(host, port, protocols, path="/"):
    """Opens a TLS connection and sends the upgrade; returns (socket, response head as text)."""
    raw = socket.create_connection((host, port), timeout=10)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    if protocols:
        req += f"Sec-WebSocket-Protocol: {protocols}\r\n"
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.decode(errors="replace")


def send(s, payload, opcode=2):
    """Sends one masked, unfragmented message (binary unless `opcode` says otherwise)."""
    s.sendall(ws_frame(payload, opcode))


def send_together(s, payloads):
    """Sends binary messages in one write, so that the server reads them together."""
    s.sendall(b"".join(ws_frame(payload) for payload in payloads))


def ws_frame(payload, opcode=2):
    """One masked, unfragmented message as it goes on the wire."""
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("the connection ended")
        b += c
    return b


def recv(s):
    """Reads one frame: (opcode, payload). The server never fragments hardlight's messages."""
    h = recv_exact(s, 2)
    op, n = h[0] & 0xF, h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return op, recv_exact(s, n)


def close_of(payload):
    """The code and reason of a close frame's payload."""
    return struct.unpack(">H", payload[:2])[0], payload[2:].decode()


def expect_close(s):
    """Reads until a close frame; returns its code and reason."""
    while True:
        op, f = recv(s)
        if op == 8:
            return close_of(f)


# ---------------------------------------------------------------------------------------------
# Frames (§5)

CALL, CANCEL, CREDIT = 0x01, 0x02, 0x04
REPLY, ITEM, OPENED = 0x11, 0x15, 0x16
STATUS_OK, STATUS_HANDLER_ERROR, STATUS_BAD_ARGUMENTS = 0, 1, 4
STATUS_TIMED_OUT, STATUS_CANCELLED = 6, 7
FLAG_DEADLINE = 0x02


def call_frame(call_id, method, args, budget_ms=None):
    """A CALL: kind, flags, call id, method index, then (with a deadline: the deadline flag and
    `budget_ms`) the arguments' archive."""
    if budget_ms is None:
        return bytes([CALL, 0]) + struct.pack("<IH", call_id, method) + args
    return bytes([CALL, FLAG_DEADLINE]) + struct.pack("<IHI", call_id, method, budget_ms) + args


def cancel_frame(call_id):
    """A CANCEL: the call to stop, exactly 6 bytes."""
    return bytes([CANCEL, 0]) + struct.pack("<I", call_id)


def credit_frame(call_id, nbytes):
    """A CREDIT (§5.11): `nbytes` more bytes of ITEM frames for streaming call `call_id`, exactly
    10 bytes."""
    return bytes([CREDIT, 0]) + struct.pack("<II", call_id, nbytes)


def parse_frame(f):
    """A REPLY, OPENED or ITEM frame (uncompressed) as (kind, call_id, rest): for a REPLY, rest is
    (status, body); for OPENED, None; for an ITEM, the archived item."""
    if len(f) < 6:
        raise Invalid(f"a frame shorter than its header: {f.hex(' ')}")
    kind, flags = f[0], f[1]
    if flags != 0:
        raise Invalid(f"flags {flags:#x} without compression: {f.hex(' ')}")
    call_id = struct.unpack("<I", f[2:6])[0]
    if kind == REPLY:
        if len(f) < 7:
            raise Invalid(f"a REPLY without status: {f.hex(' ')}")
        return kind, call_id, (f[6], f[7:])
    if kind == OPENED:
        if len(f) != 6:
            raise Invalid(f"an OPENED of {len(f)} bytes, not 6")
        return kind, call_id, None
    if kind == ITEM:
        return kind, call_id, f[6:]
    raise Invalid(f"kind {kind:#x} is not REPLY, OPENED or ITEM")


def next_message(s):
    """The next binary message that is not a STATE or EVENT frame; EOFError once closed."""
    while True:
        op, f = recv(s)
        if op == 8:
            raise EOFError("closed: %d %s" % close_of(f))
        if op == 2 and f[0] not in (0x12, 0x13):
            return f


def read_frame(s):
    """Skips STATE and EVENT frames until a REPLY, OPENED or ITEM; returns `parse_frame`'s
    (kind, call_id, rest)."""
    return parse_frame(next_message(s))


def read_reply(s):
    """Skips STATE and EVENT frames until a REPLY; returns (call_id, status, body)."""
    f = next_message(s)
    assert f[0] == REPLY, f
    return struct.unpack("<I", f[2:6])[0], f[6], f[7:]


# ---------------------------------------------------------------------------------------------
# Values (§4): the archive format


class Invalid(Exception):
    """The bytes are not a valid archive of the type."""


class Writer:
    """An archive being written: its bytes, and the shared values already written (for Arc)."""

    def __init__(self):
        self.buf = bytearray()
        self.shared = {}

    @property
    def pos(self):
        return len(self.buf)

    def write(self, b):
        self.buf += b


class Reader:
    """An archive being read, and the shared values already read."""

    def __init__(self, data):
        self.buf = bytes(data)
        self.shared = {}

    def take(self, at, n):
        if at < 0 or at + n > len(self.buf):
            raise Invalid(f"{n} bytes at {at} are outside the archive")
        return self.buf[at:at + n]

    def target(self, at, size, base=None):
        """Where the relative pointer at `at` (relative to `base`, `at` by default) leads, for
        `size` bytes of data, which must lie before the object holding the pointer."""
        base = at if base is None else base
        t = base + struct.unpack("<i", self.take(at, 4))[0]
        if t < 0 or t + size > base:
            raise Invalid(f"a pointer at {at} leads outside the data before it")
        return t


def encode(ty, value):
    """The archive of `value`: out-of-line data in the order §4.1 gives, the root last."""
    w = Writer()
    resolver = ty.serialize(w, value)
    w.write(ty.resolve(value, resolver, w.pos))
    return bytes(w.buf)


def decode(ty, data):
    """The value of an archive: its root is the last `ty.size` bytes."""
    r = Reader(data)
    if len(r.buf) < ty.size:
        raise Invalid("shorter than the root")
    return ty.read(r, len(r.buf) - ty.size)


def rel(target, at):
    return struct.pack("<i", target - at)


INVALID_POINTER = struct.pack("<i", 1)  # "no pointer" (§4.3): an offset of 1

# FxHasher64 (§4.3, HashMap): the hash of map keys.
FX_SEED = 0x517CC1B727220A95
MASK64 = (1 << 64) - 1


def fx_word(h, word):
    return ((((h << 5) | (h >> 59)) & MASK64) ^ word) * FX_SEED & MASK64


def fx_bytes(h, b):
    n = len(b)
    for i in range(0, n - n % 8, 8):
        h = fx_word(h, int.from_bytes(b[i:i + 8], "little"))
    if n & 4:
        i = n & ~7
        h = fx_word(h, int.from_bytes(b[i:i + 4], "little"))
    if n & 2:
        i = n & ~3
        h = fx_word(h, int.from_bytes(b[i:i + 2], "little"))
    if n & 1:
        h = fx_word(h, b[n - 1])
    return h


class Type:
    size = 0

    def serialize(self, w, value):
        return None

    def fxhash(self, h, value):
        raise TypeError(f"{self!r} is not a key type of §4.3's hash table")


class Int(Type):
    def __init__(self, size, signed, hash_as=None):
        self.size, self.signed = size, signed
        # How FxHasher64 takes it: ("word", bits) zero-extends the unsigned value of that width,
        # "isize" sign-extends to 64 bits, "wide" is two words.
        self.hash_as = hash_as or (("wide",) if size == 16 else ("word", size * 8))

    def resolve(self, value, resolver, at):
        return value.to_bytes(self.size, "little", signed=self.signed)

    def read(self, r, at):
        return int.from_bytes(r.take(at, self.size), "little", signed=self.signed)

    def fxhash(self, h, value):
        if self.hash_as[0] == "wide":
            u = value & ((1 << 128) - 1)
            return fx_word(fx_word(h, u & MASK64), u >> 64)
        if self.hash_as[0] == "isize":
            return fx_word(h, value & MASK64)
        return fx_word(h, value & ((1 << self.hash_as[1]) - 1))


U8, I8 = Int(1, False), Int(1, True)
U16, I16 = Int(2, False), Int(2, True)
U32, I32 = Int(4, False), Int(4, True)
U64, I64 = Int(8, False), Int(8, True)
U128, I128 = Int(16, False), Int(16, True)
USIZE, ISIZE = Int(4, False), Int(4, True, ("isize",))


class NonZero(Int):
    def __init__(self, inner):
        super().__init__(inner.size, inner.signed, inner.hash_as)

    def resolve(self, value, resolver, at):
        assert value != 0, "a NonZero value is never 0"
        return super().resolve(value, resolver, at)

    def read(self, r, at):
        v = super().read(r, at)
        if v == 0:
            raise Invalid("NonZero holds 0")
        return v


class Float(Type):
    def __init__(self, fmt):
        self.fmt, self.size = fmt, struct.calcsize(fmt)

    def resolve(self, value, resolver, at):
        return struct.pack(self.fmt, value)

    def read(self, r, at):
        return struct.unpack(self.fmt, r.take(at, self.size))[0]


F32, F64 = Float("<f"), Float("<d")


class BoolType(Type):
    size = 1

    def resolve(self, value, resolver, at):
        return b"\x01" if value else b"\x00"

    def read(self, r, at):
        b = r.take(at, 1)[0]
        if b > 1:
            raise Invalid(f"bool byte {b:#x}")
        return b == 1

    def fxhash(self, h, value):
        return fx_word(h, int(value))


class CharType(Type):
    size = 4

    def resolve(self, value, resolver, at):
        return struct.pack("<I", ord(value))

    def read(self, r, at):
        c = struct.unpack("<I", r.take(at, 4))[0]
        if c > 0x10FFFF or 0xD800 <= c <= 0xDFFF:
            raise Invalid(f"char {c:#x} is not a Unicode scalar value")
        return chr(c)

    def fxhash(self, h, value):
        return fx_word(h, ord(value))


BOOL, CHAR = BoolType(), CharType()


class Struct(Type):
    """Tuples, structs, tuple structs: the fields one after another. `Struct()` is `()` and every
    unit struct (0 bytes)."""

    def __init__(self, *fields):
        self.fields = fields
        self.size = sum(f.size for f in fields)

    def serialize(self, w, value):
        assert len(value) == len(self.fields)
        return [f.serialize(w, v) for f, v in zip(self.fields, value)]

    def resolve(self, value, resolver, at):
        out = b""
        for f, v, rv in zip(self.fields, value, resolver):
            out += f.resolve(v, rv, at + len(out))
        return out

    def read(self, r, at):
        out = []
        for f in self.fields:
            out.append(f.read(r, at))
            at += f.size
        return tuple(out)

    def fxhash(self, h, value):
        for f, v in zip(self.fields, value):
            h = f.fxhash(h, v)
        return h


UNIT = Struct()


def Array(ty, n):
    """`[T; N]`: N elements inline, like a tuple of N `T`s; the Python value is a list."""
    class _Array(Struct):
        def read(self, r, at):
            return list(super().read(r, at))
    return _Array(*([ty] * n))


class StringType(Type):
    size = 8

    def serialize(self, w, value):
        b = value.encode()
        if len(b) <= 8:
            return None
        pos = w.pos
        w.write(b)
        return pos

    def resolve(self, value, resolver, at):
        b = value.encode()
        if len(b) <= 8:
            return b + b"\xff" * (8 - len(b))
        n = len(b)
        encoded = (n & 0x3F) | 0x80 | ((n & ~0x3F) << 2)
        return struct.pack("<I", encoded) + rel(resolver, at)

    def read(self, r, at):
        fixed = r.take(at, 8)
        if fixed[0] & 0xC0 != 0x80:
            n = fixed.find(b"\xff")
            data = fixed[: 8 if n < 0 else n]
        else:
            encoded = struct.unpack("<I", fixed[:4])[0]
            n = (encoded & 0x3F) | ((encoded & ~0xFF) >> 2)
            if n <= 8:
                raise Invalid("an out-of-line string of 8 bytes or fewer")
            data = r.take(r.target(at + 4, n, base=at), n)
        try:
            return data.decode()
        except UnicodeDecodeError as e:
            raise Invalid(str(e))

    def fxhash(self, h, value):
        return fx_word(fx_bytes(h, value.encode()), 0xFF)


STRING = StringType()


class Vec(Type):
    size = 8

    def __init__(self, ty):
        self.ty = ty

    def serialize(self, w, value):
        resolvers = [self.ty.serialize(w, v) for v in value]
        pos = w.pos
        for v, rv in zip(value, resolvers):
            w.write(self.ty.resolve(v, rv, w.pos))
        return pos

    def resolve(self, value, resolver, at):
        return rel(resolver, at) + struct.pack("<I", len(value))

    def read(self, r, at):
        n = struct.unpack("<I", r.take(at + 4, 4))[0]
        t = r.target(at, n * self.ty.size)
        return [self.ty.read(r, t + i * self.ty.size) for i in range(n)]


class Box(Type):
    """`Box<T>` of a sized T: a pointer to the T, which is written first."""
    size = 4

    def __init__(self, ty):
        self.ty = ty

    def serialize(self, w, value):
        rv = self.ty.serialize(w, value)
        pos = w.pos
        w.write(self.ty.resolve(value, rv, pos))
        return pos

    def resolve(self, value, resolver, at):
        return rel(resolver, at)

    def read(self, r, at):
        return self.ty.read(r, r.target(at, self.ty.size))


class BoxStrType(Type):
    """`Box<str>`: a pointer and a length; the bytes are always out of line."""
    size = 8

    def serialize(self, w, value):
        pos = w.pos
        w.write(value.encode())
        return pos

    def resolve(self, value, resolver, at):
        return rel(resolver, at) + struct.pack("<I", len(value.encode()))

    def read(self, r, at):
        n = struct.unpack("<I", r.take(at + 4, 4))[0]
        return r.take(r.target(at, n), n).decode()


BOX_STR = BoxStrType()


class Enum(Type):
    """A tag byte (the variant's index here: these enums have no explicit discriminants), then the
    variant's fields; as big as the biggest variant. Values are (name, [fields])."""

    def __init__(self, *variants):
        assert len(variants) <= 256
        self.names = [name for name, _ in variants]
        self.variants = [Struct(*fields) for _, fields in variants]
        self.size = 1 + max(v.size for v in self.variants)

    def serialize(self, w, value):
        name, fields = value
        return self.variants[self.names.index(name)].serialize(w, fields)

    def resolve(self, value, resolver, at):
        name, fields = value
        tag = self.names.index(name)
        out = bytes([tag]) + self.variants[tag].resolve(fields, resolver, at + 1)
        return out + b"\x00" * (self.size - len(out))

    def read(self, r, at):
        tag = r.take(at, 1)[0]
        if tag >= len(self.variants):
            raise Invalid(f"no variant {tag}")
        return self.names[tag], list(self.variants[tag].read(r, at + 1))


def Result(ok, err):
    return Enum(("Ok", [ok]), ("Err", [err]))


def Ok(value):
    return ("Ok", [value])


def Err(value):
    return ("Err", [value])


class Option(Type):
    """A tag (00 None, 01 Some), then the value (zeros for None). None is Python's None."""

    def __init__(self, ty):
        self.ty = ty
        self.size = 1 + ty.size

    def serialize(self, w, value):
        return None if value is None else self.ty.serialize(w, value)

    def resolve(self, value, resolver, at):
        if value is None:
            return b"\x00" * self.size
        return b"\x01" + self.ty.resolve(value, resolver, at + 1)

    def read(self, r, at):
        tag = r.take(at, 1)[0]
        if tag > 1:
            raise Invalid(f"Option tag {tag}")
        return None if tag == 0 else self.ty.read(r, at + 1)


class NichedOptionBox(Box):
    """`Option<Box<T>>` with `#[rkyv(with = Niche)]`: the box's pointer, or the offset 1 for None."""

    def serialize(self, w, value):
        return None if value is None else super().serialize(w, value)

    def resolve(self, value, resolver, at):
        return INVALID_POINTER if value is None else super().resolve(value, resolver, at)

    def read(self, r, at):
        if r.take(at, 4) == INVALID_POINTER:
            return None
        return super().read(r, at)


class NichedOptionNonZero(Int):
    """`Option<NonZero*>` with `#[rkyv(with = Niche)]`: the integer, 0 for None."""

    def __init__(self, inner):
        super().__init__(inner.size, inner.signed, inner.hash_as)

    def resolve(self, value, resolver, at):
        return super().resolve(0 if value is None else value, resolver, at)

    def read(self, r, at):
        v = super().read(r, at)
        return None if v == 0 else v


class Shared:
    """The value of an `Arc`: two `Arc`s holding the same `Shared` are one value, written once."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Shared({self.value!r})"


class Arc(Type):
    size = 4

    def __init__(self, ty):
        self.ty = ty

    def serialize(self, w, value):
        if id(value) in w.shared:
            return w.shared[id(value)][0]
        rv = self.ty.serialize(w, value.value)
        pos = w.pos
        w.write(self.ty.resolve(value.value, rv, pos))
        if w.pos == pos:
            w.write(b"\x00")  # a value of 0 bytes still gets a position of its own
        w.shared[id(value)] = (pos, value)
        return pos

    def resolve(self, value, resolver, at):
        return rel(resolver, at)

    def read(self, r, at):
        t = r.target(at, self.ty.size)
        if t not in r.shared:
            r.shared[t] = Shared(self.ty.read(r, t))
        return r.shared[t]


# The hash table of HashMap and HashSet (§4.3)

GROUP = 16


class HashMap(Type):
    """Values: a dict or a list of (key, value) pairs (inserted in that order); read as a dict."""
    size = 12

    def __init__(self, key, value):
        self.key, self.value = key, value
        self.entry = key.size + value.size

    def _pairs(self, value):
        return list(value.items()) if isinstance(value, dict) else list(value)

    @staticmethod
    def capacity(n):
        return 0 if n == 0 else max(n * 8 // 7, n + 1)

    def place(self, keys):
        """The slot of each key, inserted in order, and the control bytes."""
        n = len(keys)
        cap = self.capacity(n)
        probe_cap = -(-cap // GROUP) * GROUP
        control_count = probe_cap + GROUP - 1
        mask = (1 << (control_count - 1).bit_length()) - 1
        control = bytearray(b"\xff" * control_count)
        slots = []
        for key in keys:
            h = self.key.fxhash(0, key)
            h2 = h >> 57
            pos, stride = h % cap, 0
            while True:
                empty = control.find(0xFF, pos, pos + GROUP)
                if empty >= 0:
                    index = empty % cap
                    control[index] = h2
                    if index < control_count - cap:
                        control[cap + index] = h2
                    slots.append(index)
                    break
                while True:
                    stride += GROUP
                    pos = (pos + stride) & mask
                    if pos < probe_cap:
                        break
        return slots, control

    def serialize(self, w, value):
        pairs = self._pairs(value)
        if not pairs:
            return None
        cap = self.capacity(len(pairs))
        slots, control = self.place([k for k, _ in pairs])
        by_slot = [None] * cap
        for slot, pair in zip(slots, pairs):
            by_slot[slot] = pair
        # Out-of-line data: entry by entry in slot order, key then value.
        resolvers = {}
        for slot, pair in enumerate(by_slot):
            if pair is not None:
                resolvers[slot] = (self.key.serialize(w, pair[0]), self.value.serialize(w, pair[1]))
        # The buckets, from the last slot down to slot 0, then the control bytes.
        for slot in reversed(range(cap)):
            pair = by_slot[slot]
            if pair is None:
                w.write(b"\x00" * self.entry)
            else:
                rk, rv = resolvers[slot]
                at = w.pos
                w.write(self.key.resolve(pair[0], rk, at)
                        + self.value.resolve(pair[1], rv, at + self.key.size))
        pos = w.pos
        w.write(bytes(control))
        return pos

    def resolve(self, value, resolver, at):
        n = len(self._pairs(value))
        pointer = INVALID_POINTER if n == 0 else rel(resolver, at)
        return pointer + struct.pack("<II", n, self.capacity(n))

    def read(self, r, at):
        n, cap = struct.unpack("<II", r.take(at + 4, 8))
        if n == 0 and cap == 0:
            return {}
        if n >= cap:
            raise Invalid(f"hash table of {n} entries in {cap} slots")
        probe_cap = -(-cap // GROUP) * GROUP
        control_count = probe_cap + GROUP - 1
        control_at = r.target(at, control_count)
        if control_at - cap * self.entry < 0:
            raise Invalid("hash table buckets outside the archive")
        control = r.take(control_at, control_count)
        for i in range(cap, min(2 * cap, control_count - cap)):
            if control[i] != control[i % cap]:
                raise Invalid(f"control byte {i} does not repeat byte {i % cap}")
        out = {}
        for slot in range(cap):
            if control[slot] & 0x80 == 0:
                bucket = control_at - (slot + 1) * self.entry
                out[self.key.read(r, bucket)] = self.value.read(r, bucket + self.key.size)
        if len(out) != n:
            raise Invalid(f"hash table says {n} entries, holds {len(out)}")
        return out


class HashSet(HashMap):
    """A HashMap whose values are `()`. Values: a list (inserted in that order) or a set."""

    def __init__(self, key):
        super().__init__(key, UNIT)

    def _pairs(self, value):
        return [(k, ()) for k in value]

    def read(self, r, at):
        return set(super().read(r, at))


# The B-tree of BTreeMap and BTreeSet (§4.3)

E = 5  # entries per node


class BTreeMap(Type):
    """Values: a dict (any order: entries are written in key order); read as a dict."""
    size = 8

    def __init__(self, key, value):
        self.key, self.value = key, value
        self.node = 1 + E * key.size + E * value.size  # kind, keys, values
        self.leaf = self.node + 4  # then the leaf's length
        self.inner = self.node + 4 * (E + 1)  # then E lesser pointers and the greater one

    def _pairs(self, value):
        return sorted(value.items())

    @staticmethod
    def height(n):
        h = 1
        while n >= E + 1:
            n //= E + 1
            h += 1
        return h

    def _entries(self, w, entries):
        resolvers = []
        for k, v in entries:
            resolvers.append((self.key.serialize(w, k), self.value.serialize(w, v)))
        return resolvers

    def _keys_values(self, entries, resolvers, at):
        keys, values = b"", b""
        for i, ((k, v), (rk, rv)) in enumerate(zip(entries, resolvers)):
            keys += self.key.resolve(k, rk, at + 1 + i * self.key.size)
            values += self.value.resolve(v, rv, at + 1 + E * self.key.size + i * self.value.size)
        keys += b"\x00" * (E * self.key.size - len(keys))
        values += b"\x00" * (E * self.value.size - len(values))
        return keys + values

    def close_leaf(self, w, entries):
        resolvers = self._entries(w, entries)
        at = w.pos
        w.write(b"\x00" + self._keys_values(entries, resolvers, at) + struct.pack("<I", len(entries)))
        return at

    def close_inner(self, w, entries, greater):
        assert len(entries) == E
        resolvers = self._entries(w, [(k, v) for k, v, _ in entries])
        at = w.pos
        out = b"\x01" + self._keys_values([(k, v) for k, v, _ in entries], resolvers, at)
        for _, _, lesser in entries + [(None, None, greater)]:
            out += INVALID_POINTER if lesser is None else rel(lesser, at + len(out))
        w.write(out)
        return at

    def serialize(self, w, value):
        pairs = self._pairs(value)
        n = len(pairs)
        if n == 0:
            return None
        height = self.height(n)
        last_level = n - ((E + 1) ** (height - 1) - 1)
        open_inners = [[] for _ in range(height - 1)]
        open_leaf, child, leaf_entries = [], None, 0
        it = iter(pairs)
        for k, v in it:
            open_leaf.append((k, v))
            leaf_entries += 1
            if leaf_entries == last_level or len(open_leaf) == E:
                child = self.close_leaf(w, open_leaf)
                open_leaf = []
                if leaf_entries == last_level and open_inners:
                    # The last leaf of the last level: the node above takes the next entries
                    # without children.
                    inner = open_inners.pop()
                    while len(inner) < E:
                        pair = next(it, None)
                        if pair is None:
                            break
                        inner.append((pair[0], pair[1], child))
                        child = None
                    child = self.close_inner(w, inner, child)
                popped = 0
                while open_inners:
                    last = open_inners[-1]
                    if len(last) == E:
                        child = self.close_inner(w, last, child)
                        open_inners.pop()
                        popped += 1
                    else:
                        k2, v2 = next(it)
                        last.append((k2, v2, child))
                        child = None
                        open_inners.extend([] for _ in range(popped))
                        break
        if open_leaf:
            child = self.close_leaf(w, open_leaf)
        while open_inners:
            child = self.close_inner(w, open_inners.pop(), child)
        return child

    def resolve(self, value, resolver, at):
        n = len(value)
        pointer = INVALID_POINTER if n == 0 else rel(resolver, at)
        return pointer + struct.pack("<I", n)

    def _visit(self, r, at, out):
        kind = r.take(at, 1)[0]
        values_at = at + 1 + E * self.key.size

        def entry(i):
            k = self.key.read(r, at + 1 + i * self.key.size)
            out.append((k, self.value.read(r, values_at + i * self.value.size)))

        if kind == 0:
            r.take(at, self.leaf)
            n = struct.unpack("<I", r.take(at + self.node, 4))[0]
            if n > E:
                raise Invalid(f"a leaf of {n} entries")
            for i in range(n):
                entry(i)
        elif kind == 1:
            r.take(at, self.inner)
            for i in range(E + 1):
                p = at + self.node + 4 * i
                if r.take(p, 4) != INVALID_POINTER:
                    self._visit(r, r.target(p, self.node), out)
                if i < E:
                    entry(i)
        else:
            raise Invalid(f"node kind {kind}")

    def read(self, r, at):
        n = struct.unpack("<I", r.take(at + 4, 4))[0]
        if n == 0:
            return {}
        out = []
        self._visit(r, r.target(at, self.node), out)
        if len(out) != n:
            raise Invalid(f"B-tree says {n} entries, holds {len(out)}")
        return dict(out)


class BTreeSet(BTreeMap):
    """A BTreeMap whose values are `()`. Values: any iterable; read as a sorted list."""

    def __init__(self, key):
        super().__init__(key, UNIT)

    def _pairs(self, value):
        return [(k, ()) for k in sorted(value)]

    def read(self, r, at):
        return list(super().read(r, at))


# ---------------------------------------------------------------------------------------------
# The document's vectors


def vectors(protocol_md):
    """Every `<!-- vector: NAME -->` of PROTOCOL.md with its bytes."""
    out, lines = {}, open(protocol_md, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("<!-- vector: ") and line.endswith(" -->"):
            name = line[len("<!-- vector: "):-4]
            i += 1
            while lines[i].strip() != "```hex":
                i += 1
            i += 1
            digits = ""
            while lines[i].strip() != "```":
                digits += "".join(lines[i].split())
                i += 1
            out[name] = bytes.fromhex(digits)
        i += 1
    return out


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h
