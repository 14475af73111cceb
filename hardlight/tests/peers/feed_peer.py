"""A peer of the feed service (hardlight/tests/common/feed.rs), written from docs/PROTOCOL.md alone
(Python stdlib only, with hlwire.py next to it): streaming calls (§5.11) with its own flow control.

Usage: feed_peer.py HOST PORT PROTOCOL_MD

1. Checks its own CREDIT encoder and OPENED/ITEM/REPLY reader against the vectors of §5.11.
2. Connects (TLS, any certificate) with the fingerprint of schema_text(), and calls the streaming
   methods, granting credit (in bytes) itself and checking, frame by frame, that a stream sends
   OPENED once and before its items (or only a REPLY when refused), its items in order and only
   while credit is left (each taking its frame's length), exactly as many as the credit allows, then one REPLY that ends it: a normal end, the handler's error (before streaming or
   mid-stream), a cancel, a deadline; that the ends need no credit; that one stream without credit
   holds back nothing else; and that CREDIT for a call that is not a running stream is ignored.
3. Sends malformed CREDIT frames, and a CALL reusing an open stream's id, each on its own
   connection, and expects close 1002.

Exits non-zero on any mismatch; with 3 when the server refuses the fingerprint (close 4001)."""
import os
import socket
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hlwire import *  # noqa: E402,F401,F403

host, port, protocol_md = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STALL = 5  # seconds without a frame that fail a check (a stream stalled), before the test's 10


def schema_text():
    """The feed service's schema text, by docs/PROTOCOL.md §3.2: a streaming method returning
    `Result<Streaming<T,E>,E>` is written `-> Streaming<T,E>`, and `HandlerResult<Streaming<T>>`
    is `Streaming<T,HandlerError>`. The one place to change when §3 changes."""
    return (
        "service Feed\n"
        "events EventPayload\n"
        "fn count(u32) -> Streaming<u32,HandlerError>\n"
        "fn ticks(u32,u32) -> Streaming<Tick,FeedError>\n"
        "fn endless() -> Streaming<u64,HandlerError>\n"
        # The named types, in the order the lines above first meet them.
        "type HandlerError = struct { message: String }\n"
        "type Tick = struct { seq: u32, label: String }\n"
        "type FeedError = enum { Empty, Broke { at: u32, why: String } }\n"
    )


# The service's types (feed.rs), in hlwire's terms.
TICK = Struct(U32, STRING)
FEED_ERROR = Enum(("Empty", []), ("Broke", [U32, STRING]))
HANDLER_ERROR = Struct(STRING)

# Method: (index, argument types, item type, error type), in the trait's order.
METHODS = {}
for name, args, item, error in [
    ("count", [U32], U32, HANDLER_ERROR),
    ("ticks", [U32, U32], TICK, FEED_ERROR),
    ("endless", [], U64, HANDLER_ERROR),
]:
    METHODS[name] = (len(METHODS), Struct(*args), item, error)


def label(seq):
    """The label of tick `seq` (feed.rs `label`): inline for even `seq`s, out of line for odd."""
    return f"t{seq}" if seq % 2 == 0 else f"tick number {seq}"


# ---------------------------------------------------------------------------------------------
# 1. The document's vectors

document = vectors(protocol_md)
assert credit_frame(7, 256 * 1024) == document["credit_7_256k"], document["credit_7_256k"].hex(" ")
assert parse_frame(document["opened_7"]) == (OPENED, 7, None)
kind, call_id, item = parse_frame(document["item_7_42"])
assert (kind, call_id, decode(U32, item)) == (ITEM, 7, 42), document["item_7_42"].hex(" ")
assert parse_frame(document["reply_stream_end"]) == (REPLY, 7, (STATUS_OK, b""))
assert decode(UNIT, b"") == (), "the end's body is the empty archive of ()"
print("feed peer: the streaming vectors of §5.11 reproduced")

# ---------------------------------------------------------------------------------------------
# 2. Streaming calls


class Call:
    """A streaming call in flight, as this peer sees it: what it granted and what arrived."""

    def __init__(self, call_id, name):
        self.call_id, self.name = call_id, name
        _, _, self.item_type, self.error_type = METHODS[name]
        self.granted = 0  # bytes granted in all
        self.spent = 0  # bytes of ITEM frames received (each frame's whole length)
        self.opened = False
        self.items = []  # decoded items, in arrival order
        self.raw = []  # their archives
        self.reply = None  # (status, body) once it ended

    def __repr__(self):
        return (f"{self.name}#{self.call_id}(opened={self.opened}, granted={self.granted}, "
                f"spent={self.spent}, items={len(self.items)}, reply={self.reply!r})")


class Peer:
    """One connection: its calls in flight by id, and every frame checked against §5.11."""

    def __init__(self):
        fingerprint = f"{fnv1a64(schema_text().encode()):016x}"
        self.s, head = connect(host, port, f"hardlight.v1, hardlight.schema.{fingerprint}")
        assert head.startswith("HTTP/1.1 101"), head
        op, first = recv(self.s)
        if op == 8:
            code, reason = close_of(first)
            if code == 4001:
                print(f"feed peer: FINGERPRINT REFUSED: the server closed with 4001 ({reason}); "
                      "schema_text() in feed_peer.py no longer follows docs/PROTOCOL.md §3:\n"
                      + schema_text())
                sys.exit(3)
            raise AssertionError(f"refused: {code} {reason}")
        assert op == 2 and first[0] == 0x10, f"the first message is HELLO: {first!r}"
        self.s.settimeout(STALL)
        self.max_calls = struct.unpack("<H", first[2:4])[0]
        self.calls = {}
        self.next_id = 0
        self.frames = 0

    def call(self, name, *args, budget_ms=None, call_id=None, credits=()):
        """Sends a CALL of streaming method `name`, and in the same write a CREDIT for each of
        `credits`; returns its Call."""
        if call_id is None:
            call_id, self.next_id = self.next_id, self.next_id + 1
        assert call_id not in self.calls, f"call id {call_id} is in flight"
        index, arg_types, _, _ = METHODS[name]
        call = Call(call_id, name)
        self.calls[call_id] = call
        frames = [call_frame(call_id, index, encode(arg_types, tuple(args)), budget_ms)]
        for nbytes in credits:
            call.granted += nbytes
            frames.append(credit_frame(call_id, nbytes))
        send_together(self.s, frames)
        return call

    def grant(self, call, nbytes):
        """Sends a CREDIT for `nbytes` more bytes; counted before sending, as the server may answer
        at once."""
        call.granted += nbytes
        send(self.s, credit_frame(call.call_id, nbytes))

    def cancel(self, call):
        send(self.s, cancel_frame(call.call_id))

    def pump(self):
        """Reads one frame and checks it against what this peer granted; returns its Call."""
        kind, call_id, rest = read_frame(self.s)
        self.frames += 1
        call = self.calls.get(call_id)
        assert call is not None, f"a frame of kind {kind:#x} for call {call_id}, not in flight"
        if kind == OPENED:
            assert not call.opened, f"{call}: a second OPENED"
            call.opened = True
        elif kind == ITEM:
            assert call.opened, f"{call}: an ITEM before OPENED"
            assert call.spent < call.granted, f"{call}: an ITEM with no credit left"
            call.spent += ITEM_HEADER + len(rest)  # the frame's length, header included
            call.raw.append(rest)
            call.items.append(decode(call.item_type, rest))
        else:
            call.reply = rest
            del self.calls[call_id]  # its id is free again (§6)
        return call

    def until(self, done, what):
        """Pumps frames until `done()` holds; fails if none comes for STALL seconds. `what` says
        what is awaited, when called."""
        for _ in range(100000):
            if done():
                return
            try:
                self.pump()
            except socket.timeout:
                raise AssertionError(f"no frame for {STALL}s while waiting for {what()}")
        raise AssertionError(f"never saw {what()}")

    def end(self, call):
        """Pumps until `call` ended; returns (status, body)."""
        self.until(lambda: call.reply is not None, lambda: f"the end of {call}")
        return call.reply

    def round_trip(self):
        """A refused `ticks(0, 0)`, and its REPLY: the server read and handled everything sent
        before it (the server starts calls in arrival order) and had the chance to send anything
        it was going to. Checks the refusal: status 1 with `Empty`, and no OPENED."""
        probe = self.call("ticks", 0, 0)
        status, body = self.end(probe)
        assert not probe.opened, f"{probe}: OPENED for a refused call"
        assert (status, decode(probe.error_type, body)) == (STATUS_HANDLER_ERROR, ("Empty", [])), \
            (status, body)

    def close(self):
        send(self.s, struct.pack(">H", 1000), opcode=8)


p = Peer()

# The length of an ITEM frame: its 6-byte header, then the item's archive.
ITEM_HEADER = 6


def sendable(granted, frame_len, left):
    """How many items of `frame_len` bytes a server sends for `granted` bytes in all, of `left`
    items: one while the credit is above 0, each taking its length (the last may overdraw)."""
    return min(left, max(0, -(-granted // frame_len)))


# count(100): OPENED, nothing without credit, then exactly what the credit allows, in pieces.
c = p.call("count", 100)
p.round_trip()
p.until(lambda: c.opened, lambda: "OPENED for count(100)")
p.round_trip()  # the server has polled the stream since OPENED: it holds an item, without credit
assert c.items == [] and c.reply is None, f"{c}: sent something with no credit"
# Each item of count() is a 10-byte frame (an archived u32). Whole items, one byte (one item,
# overdrawing by 9), credit that only pays the debt back (nothing), a CREDIT of 0 (nothing), and so
# on: 10, 11, 11, 11, 11, 36, 43, 44, 44, then the remaining 56.
sizes = [100, 1, 5, 4, 0, 250, 61, 10, 9, 1000]
for n in sizes:
    p.grant(c, n)
    expected = sendable(c.granted, 10, 100)
    p.until(lambda: len(c.items) == expected, lambda: f"{expected} items for the credit of {c}")
    p.round_trip()
    assert len(c.items) == expected, f"{c}: not exactly {expected} items after a round trip"
    if expected < 100:
        assert c.reply is None, f"{c}: ended after {len(c.items)} items"
assert c.items == list(range(100)), c.items
assert all(raw == encode(U32, i) for i, raw in enumerate(c.raw))
assert p.end(c) == (STATUS_OK, b""), f"{c}: not a normal end"
print("feed peer: count(100) sent 100 items in order, exactly as the byte credit allowed, then its end")

# A CREDIT for a stream that ended, and for an id never used, and a CANCEL for the ended stream:
# ignored, the connection goes on.
send(p.s, credit_frame(c.call_id, 5))
send(p.s, credit_frame(0xFFFFFFF0, 5))
send(p.s, cancel_frame(c.call_id))
p.round_trip()

# The ends need no credit: count(0) ends at once, ticks(5, 0) breaks at its first item.
z = p.call("count", 0)
assert p.end(z) == (STATUS_OK, b"") and z.opened and z.items == [], z
t = p.call("ticks", 5, 0)
status, body = p.end(t)
assert t.opened and t.items == [], t
assert (status, decode(t.error_type, body)) == (
    STATUS_HANDLER_ERROR, ("Broke", [0, "the feed broke at tick 0"])), (status, body)

# ticks(5, 3): three ticks, then the handler's error. Its credits come with the CALL, read before
# the stream can take any: 2^32-1 and 1 add up past 2^32 rather than wrap to 0 (a stall).
t = p.call("ticks", 5, 3, credits=[0xFFFFFFFF, 1])
status, body = p.end(t)
assert t.opened, t
assert t.items == [(i, label(i)) for i in range(3)], t.items
assert all(raw == encode(TICK, (i, label(i))) for i, raw in enumerate(t.raw)), t.raw
assert (status, decode(t.error_type, body)) == (
    STATUS_HANDLER_ERROR, ("Broke", [3, "the feed broke at tick 3"])), (status, body)
t = p.call("ticks", 3, 7)  # fail_at past the end: a normal end
p.grant(t, 1000)
assert p.end(t) == (STATUS_OK, b"") and t.items == [(i, label(i)) for i in range(3)], t
print("feed peer: ticks refused, broke mid-stream and ended as documented")

# endless(): grant 10 items (14-byte frames: an archived u64), read 5, CANCEL: items already
# granted may still come, in order, then 7.
e = p.call("endless")
p.grant(e, 10 * 14)
p.until(lambda: len(e.items) >= 5, lambda: "five items of endless()")
p.cancel(e)
status, body = p.end(e)
assert status == STATUS_CANCELLED, (status, body)
body.decode()  # a text
assert 5 <= len(e.items) <= 10 and e.items == list(range(len(e.items))), e
# The cancelled call's id is free once its REPLY came: reused at once.
r = p.call("count", 3, call_id=e.call_id)
p.grant(r, 3 * 10)
assert p.end(r) == (STATUS_OK, b"") and r.items == [0, 1, 2], r
print(f"feed peer: endless() cancelled after {len(e.items)} items (5 read, 10 granted)")

# A CANCEL ends a stream that was never granted anything.
e = p.call("endless")
p.until(lambda: e.opened, lambda: "OPENED for endless()")
p.round_trip()
p.cancel(e)
assert p.end(e)[0] == STATUS_CANCELLED and e.items == [], e

# A stream without credit holds back nothing else: endless() with 3 items granted stays at 3
# while count(50) runs to its end next to it.
e = p.call("endless")
p.grant(e, 3 * 14)
c = p.call("count", 50)
p.grant(c, 50 * 10)
assert p.end(c) == (STATUS_OK, b"") and c.items == list(range(50)), c
p.until(lambda: len(e.items) == 3, lambda: "the three items granted to endless()")
p.round_trip()
assert e.items == [0, 1, 2] and e.reply is None, e
p.cancel(e)
assert p.end(e)[0] == STATUS_CANCELLED, e

# A deadline bounds the whole stream, and its end needs no credit (OPENED comes first unless the
# deadline passed before the server first polled the handler's stream); with all the credit there
# is, the items run until the deadline.
d = p.call("endless", budget_ms=200)
status, body = p.end(d)
assert d.items == [] and status == STATUS_TIMED_OUT, (d, body)
d = p.call("endless", budget_ms=200, credits=[0xFFFFFFFF])
status, body = p.end(d)
assert status == STATUS_TIMED_OUT and d.items == list(range(len(d.items))), (d, body)
print("feed peer: a stream without credit stops only itself; a deadline ends a stream")

assert not p.calls, p.calls
p.close()
print(f"feed peer: {p.next_id} streaming calls, {p.frames} frames, as documented")

# ---------------------------------------------------------------------------------------------
# 3. Violations while a stream runs: close 1002, each on its own connection

for what, frame in [
    ("a CREDIT of 9 bytes", credit_frame(0, 1)[:9]),
    ("a CREDIT of 11 bytes", credit_frame(0, 1) + b"\x00"),
    ("a CREDIT with the deadline flag", bytes([CREDIT, FLAG_DEADLINE]) + credit_frame(0, 1)[2:]),
    ("a CALL reusing the open stream's id", call_frame(0, METHODS["count"][0], encode(U32, 1))),
]:
    p = Peer()
    c = p.call("endless")
    assert c.call_id == 0
    p.until(lambda: c.opened, lambda: "OPENED for endless()")
    send(p.s, frame)
    code, reason = expect_close(p.s)
    assert code == 1002, f"{what}: close {code} {reason}"
print("feed peer: malformed CREDIT frames, and a CALL reusing a stream's id, closed with 1002")
print("feed peer: all checks passed")
