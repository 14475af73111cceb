"""A hardlight peer in another language, written from docs/PROTOCOL.md alone (Python stdlib only).

Usage: counter_peer.py HOST PORT. Talks to a server of the counter service over TLS (any certificate),
checks the documented behaviour for honest and hostile input, and exits non-zero on any mismatch."""
import os, struct, sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlwire  # the WebSocket client and frame helpers shared with kinds_peer.py
from hlwire import send, recv, expect_close
host, port = sys.argv[1], int(sys.argv[2])
def connect(protocols):
    return hlwire.connect(host, port, protocols)
GOOD = "hardlight.v1, hardlight.schema.2eb92116574677d2"
# 1. honest: new_counter (method 0, no args), increment(5) (method 1), get (method 3)
s, head = connect(GOOD)
assert head.startswith("HTTP/1.1 101"), head
assert "sec-websocket-protocol: hardlight.v1" in head.lower(), head
op, hello = recv(s)
assert op == 2 and hello[0] == 0x10, hello
assert struct.unpack("<H", hello[2:4])[0] == 256
send(s, bytes([1, 0]) + struct.pack("<IH", 1, 0))
send(s, bytes([1, 0]) + struct.pack("<IH", 2, 1) + struct.pack("<I", 5))
send(s, bytes([1, 0]) + struct.pack("<IH", 3, 3))
got = {}
while len(got) < 3:
    op, f = recv(s)
    if f[0] == 0x11: got[struct.unpack("<I", f[2:6])[0]] = (f[6], f[7:])
    else: assert f[0] in (0x12, 0x13), f
assert got[1] == (0, b"") and got[2] == (0, b""), got
assert got[3] == (0, struct.pack("<I", 5)), got[3]
# 2. hostile: reused call id, text frame, garbage, wrong schema, unknown version, no subprotocol
for name, payload, opcode, code in [
        ("text", b"hi", 1, 1003), ("garbage", b"\xff\x00\x01", 2, 1002),
        ("truncated call", b"\x01\x00\x01", 2, 1002), ("bad flags", b"\x01\x80" + b"\0" * 6, 2, 1002),
        ("compressed without negotiation", b"\x01\x01\x00\x00", 2, 1002)]:
    s, _ = connect(GOOD); recv(s)
    send(s, payload, opcode)
    got_code, reason = expect_close(s)
    assert got_code == code, (name, got_code, reason)
s, _ = connect("hardlight.v1, hardlight.schema.0000000000000001")
assert expect_close(s)[0] == 4001
s, _ = connect("hardlight.v7")
assert expect_close(s)[0] == 4002
s, head = connect(None)
assert head.startswith("HTTP/1.1 400"), head
s, _ = connect(GOOD); recv(s)
send(s, bytes([1, 0]) + struct.pack("<IH", 9, 1) + b"\x01")  # bad arguments for increment
op, f = recv(s)
assert f[0] == 0x11 and f[6] == 4, f
send(s, bytes([1, 0]) + struct.pack("<IH", 10, 77))  # no method 77
op, f = recv(s)
assert f[0] == 0x11 and f[6] == 3, f
send(s, bytes([1, 0]) + struct.pack("<IH", 11, 3))  # still serving
op, f = recv(s)
assert f[:7] == bytes([0x11, 0]) + struct.pack("<I", 11) + bytes([0]), f
print("python peer: all checks passed")
