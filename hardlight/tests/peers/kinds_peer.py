"""A peer of the kinds service (hardlight/tests/common/kinds.rs), written from docs/PROTOCOL.md alone
(Python stdlib only, with hlwire.py next to it).

Usage: kinds_peer.py HOST PORT PROTOCOL_MD

1. Checks its own encoder and decoder against every value vector of PROTOCOL.md §4.4.
2. Connects (TLS, any certificate) with the fingerprint of schema_fingerprint(), and calls every
   method with arguments its encoder writes, checking the replies its decoder reads; where the
   server's bytes do not depend on chance (B-trees; hash tables once the server says in which order
   it inserted), it also checks them byte for byte against its own encoding.
3. Sends archives that break §4's reading rules and expects each call to fail with status 4 (bad
   arguments) while the connection goes on.

Exits non-zero on any mismatch; with 3 when the server refuses the fingerprint (close 4001)."""
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hlwire import *  # noqa: E402,F401,F403

host, port, protocol_md = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def schema_fingerprint():
    """The kinds service's schema fingerprint, by docs/PROTOCOL.md §3: FNV-1a-64 over the schema text,
    which lists the methods (argument types, and the `Result` each call returns), then defines every
    named type they use, in the order first met. The one place to change when §3 changes."""
    ints = "u8,i8,u16,i16,u32,i32,u64,i64,u128,i128,usize,isize"

    def call(name, args, ok, err="HandlerError"):
        return f"fn {name}({args}) -> Result<{ok},{err}>\n"

    text = (
        "service Kinds\n"
        "events EventPayload\n"
        + call("ints", ints, f"({ints})")  # `Ints` is an alias: the tuple it names
        + call("floats", "f32,f64", "(f64,f32)")
        + call("logic", "bool,char", "(char,bool)")
        + call("structs", "Unit,Pair", "Pair")
        + call("scale", "Shape,u16", "Shape")
        + call("wide", "Wide", "u16")
        + call("wide_at", "u8", "Wide")
        + call("echo_option", "Option<u32>", "Option<u32>")
        + call("niche", "Option<NonZeroU32>", "Option<Box<u32>>")
        + call("niched", "Niched", "Niched")
        + call("boxed", "Box<u32>,Box<str>", "Box<String>")
        + call("arr", "[u16;3]", "u32")
        + call("reverse", "[String;3]", "[String;3]")
        + call("flip", "Result<u32,String>", "Result<String,u32>")
        + call("sum_map", "HashMap<String,u32>", "u64")
        + call("table", "u32", "(Vec<String>,HashMap<String,u32>)")
        + call("set_sum", "HashSet<u32>", "u64")
        + call("squares", "u32", "(Vec<u32>,HashSet<u32>)")
        + call("sorted", "BTreeSet<u32>", "Vec<u32>")
        + call("btree", "u32", "BTreeMap<u32,String>")
        + call("entries", "BTreeMap<u32,String>", "Vec<(u32,String)>")
        + call("shared", "Arc<String>,Arc<String>", "bool")
        + call("share", "String", "(Arc<String>,Arc<String>)")
        # The named types, in the order the lines above first meet them.
        + "type HandlerError = struct { message: String }\n"
        + "type Unit = struct\n"
        + "type Pair = struct(u8, String)\n"
        + "type Shape = enum { Empty, Circle { radius: f32 }, Rect(u16, u16), Named(String) }\n"
        + "type Wide = enum { " + ", ".join(f"V{i:03}" for i in range(256)) + " }\n"
        + "type Niched = struct { boxed: Option<Box<u32>> with Niche, "
        + "count: Option<NonZeroU32> with Niche }\n"
    )
    return fnv1a64(text.encode())


# The service's types (kinds.rs), in hlwire's terms.
UNIT_STRUCT = UNIT
PAIR = Struct(U8, STRING)
SHAPE = Enum(("Empty", []), ("Circle", [F32]), ("Rect", [U16, U16]), ("Named", [STRING]))
WIDE = Enum(*[(f"V{i:03}", []) for i in range(256)])
NICHED = Struct(NichedOptionBox(U32), NichedOptionNonZero(U32))
INTS = [U8, I8, U16, I16, U32, I32, U64, I64, U128, I128, USIZE, ISIZE]

# Method: (index, argument types, the T of HandlerResult<T>), in the trait's order.
METHODS = {}
for name, args, ret in [
    ("ints", INTS, Struct(*INTS)),
    ("floats", [F32, F64], Struct(F64, F32)),
    ("logic", [BOOL, CHAR], Struct(CHAR, BOOL)),
    ("structs", [UNIT_STRUCT, PAIR], PAIR),
    ("scale", [SHAPE, U16], SHAPE),
    ("wide", [WIDE], U16),
    ("wide_at", [U8], WIDE),
    ("echo_option", [Option(U32)], Option(U32)),
    ("niche", [Option(NonZero(U32))], Option(Box(U32))),
    ("niched", [NICHED], NICHED),
    ("boxed", [Box(U32), BOX_STR], Box(STRING)),
    ("arr", [Array(U16, 3)], U32),
    ("reverse", [Array(STRING, 3)], Array(STRING, 3)),
    ("flip", [Result(U32, STRING)], Result(STRING, U32)),
    ("sum_map", [HashMap(STRING, U32)], U64),
    ("table", [U32], Struct(Vec(STRING), HashMap(STRING, U32))),
    ("set_sum", [HashSet(U32)], U64),
    ("squares", [U32], Struct(Vec(U32), HashSet(U32))),
    ("sorted", [BTreeSet(U32)], Vec(U32)),
    ("btree", [U32], BTreeMap(U32, STRING)),
    ("entries", [BTreeMap(U32, STRING)], Vec(Struct(U32, STRING))),
    ("shared", [Arc(STRING), Arc(STRING)], BOOL),
    ("share", [STRING], Struct(Arc(STRING), Arc(STRING))),
]:
    METHODS[name] = (len(METHODS), Struct(*args), ret)


def key(i):
    """The keys of the server's maps (kinds.rs `key`)."""
    return f"a longer key {i}" if i % 3 == 0 else f"k{i}"


def plain(v):
    """A value with each `Shared` replaced by its value, for comparing."""
    if isinstance(v, Shared):
        return ("Shared", plain(v.value))
    if isinstance(v, (list, tuple)):
        return type(v)(plain(x) for x in v)
    return v


# ---------------------------------------------------------------------------------------------
# 1. The document's vectors

COUNTER_EVENT = Enum(("Incremented", [U32, U32]), ("Decremented", [U32, U32]), ("ServerSentTest", []))
SEVEN = Shared(7)
VALUE_VECTORS = {
    "value_primitives": (Struct(BOOL, U16, I32, F64, CHAR), (True, 0x1234, -2, 1.5, "é")),
    "value_string_empty": (STRING, ""),
    "value_string_inline": (STRING, "hi"),
    "value_string_inline_full": (STRING, "12345678"),
    "value_string_out_of_line": (STRING, "123456789"),
    "value_vec_u32": (Vec(U32), [1, 2]),
    "value_vec_empty": (Vec(U32), []),
    "value_nested_empty_vec": (Struct(U32, Vec(U32)), (1, [])),
    "value_vec_string": (Vec(STRING), ["a", "long enough string"]),
    "value_option_none": (Option(U32), None),
    "value_option_some": (Option(U32), 5),
    "value_counter_event_incremented": (COUNTER_EVENT, ("Incremented", [6, 5])),
    "value_counter_event_decremented": (COUNTER_EVENT, ("Decremented", [4, 5])),
    "value_counter_event_server_sent_test": (COUNTER_EVENT, ("ServerSentTest", [])),
    "value_handler_error": (Struct(STRING), ("counter overflow",)),
    "value_u8": (U8, 0xFE),
    "value_i8": (I8, -2),
    "value_u16": (U16, 0x1234),
    "value_i16": (I16, -300),
    "value_u32": (U32, 0xDEADBEEF),
    "value_i32": (I32, -123456),
    "value_u64": (U64, 0x0123456789ABCDEF),
    "value_i64": (I64, -2),
    "value_u128": (U128, 0x0102030405060708090A0B0C0D0E0F10),
    "value_i128": (I128, -2),
    "value_usize": (USIZE, 70000),
    "value_isize": (ISIZE, -70000),
    "value_f32": (F32, 1.5),
    "value_f64": (F64, -0.1),
    "value_bool": (Struct(BOOL, BOOL), (False, True)),
    "value_char": (CHAR, "\U0001F600"),
    "value_unit_struct": (UNIT_STRUCT, ()),
    "value_tuple_struct": (PAIR, (7, "hi")),
    "value_enum_unit_variant": (SHAPE, ("Empty", [])),
    "value_enum_struct_variant": (SHAPE, ("Circle", [1.5])),
    "value_enum_tuple_variant": (SHAPE, ("Rect", [3, 4])),
    "value_enum_string_variant": (SHAPE, ("Named", ["a longer name"])),
    "value_enum_256th_variant": (WIDE, ("V255", [])),
    "value_box_u32": (Box(U32), 7),
    "value_box_str": (BOX_STR, "hi"),
    "value_option_box_none": (Option(Box(U32)), None),
    "value_option_box_some": (Option(Box(U32)), 7),
    "value_option_nonzero_none": (Option(NonZero(U32)), None),
    "value_option_nonzero_some": (Option(NonZero(U32)), 9),
    "value_niched_none": (NICHED, (None, None)),
    "value_niched_some": (NICHED, (7, 9)),
    "value_array_u16": (Array(U16, 3), [1, 2, 3]),
    "value_array_string": (Array(STRING, 2), ["a", "long enough string"]),
    "value_result_ok": (Result(U32, STRING), Ok(7)),
    "value_result_err": (Result(U32, STRING), Err("oops")),
    "value_arc_shared": (Struct(Arc(U32), Arc(U32)), (SEVEN, SEVEN)),
    "value_hashmap_empty": (HashMap(STRING, U32), {}),
    "value_hashmap_one": (HashMap(STRING, U32), {"a": 1}),
    "value_hashmap_three": (HashMap(STRING, U32), {"one": 1, "two": 2, "a key longer than eight": 3}),
    "value_hashset_u32": (HashSet(U32), {1, 2, 3}),
    "value_btreemap_empty": (BTreeMap(U32, STRING), {}),
    "value_btreemap_two": (BTreeMap(U32, STRING), {1: "one", 2: "two"}),
    "value_btreeset_seven": (BTreeSet(U32), [1, 2, 3, 4, 5, 6, 7]),
}

document = {name: b for name, b in vectors(protocol_md).items() if name.startswith("value_")}
assert set(document) == set(VALUE_VECTORS), (
    "the peer must know every value vector of PROTOCOL.md: "
    f"missing {sorted(set(document) - set(VALUE_VECTORS))}, "
    f"gone {sorted(set(VALUE_VECTORS) - set(document))}")
for name, (ty, value) in VALUE_VECTORS.items():
    want = document[name]
    got = encode(ty, value)
    assert got == want, f"{name}: encoded {got.hex(' ')}, PROTOCOL.md has {want.hex(' ')}"
    back = decode(ty, want)
    assert plain(back) == plain(value), f"{name}: decoded {back!r}, expected {value!r}"
a, b = decode(VALUE_VECTORS["value_arc_shared"][0], document["value_arc_shared"])
assert a is b, "two pointers to one value decode to one shared value"
print(f"kinds peer: {len(VALUE_VECTORS)} value vectors reproduced")

# ---------------------------------------------------------------------------------------------
# 2. Calls

fingerprint = f"{schema_fingerprint():016x}"
s, head = connect(host, port, f"hardlight.v1, hardlight.schema.{fingerprint}")
assert head.startswith("HTTP/1.1 101"), head
op, first = recv(s)
if op == 8:
    code, reason = close_of(first)
    if code == 4001:
        print(f"kinds peer: FINGERPRINT REFUSED: the server closed with 4001 ({reason}); "
              "schema_fingerprint() in kinds_peer.py no longer follows docs/PROTOCOL.md §3")
        sys.exit(3)
    raise AssertionError(f"refused: {code} {reason}")
assert op == 2 and first[0] == 0x10, f"the first message is HELLO: {first!r}"

next_id = 0


def call_raw(name, args):
    """Calls `name` with an argument archive; returns (status, reply body)."""
    global next_id
    index = METHODS[name][0]
    call_id, next_id = next_id, next_id + 1
    send(s, call_frame(call_id, index, args))
    got_id, status, body = read_reply(s)
    assert got_id == call_id, (name, got_id, call_id)
    return status, body


def call(name, *args):
    """Calls `name`; returns the decoded `T` and the reply's bytes."""
    _, arg_types, ret = METHODS[name]
    status, body = call_raw(name, encode(arg_types, tuple(args)))
    assert status == STATUS_OK, f"{name}{args!r}: status {status}, {body!r}"
    return decode(ret, body), body


def check(name, args, expected):
    got, _ = call(name, *args)
    assert plain(got) == plain(expected), f"{name}{args!r}: got {got!r}, expected {expected!r}"


# Numbers, bool, char
top = (0xFF, 127, 0xFFFF, -1, 0xDEADBEEF, -2**31, 2**64 - 1, 2**63 - 1, 2**128 - 1, -2**127,
       2**32 - 1, -2)
check("ints", top, (0, -128, 0, 0, 0xDEADBEF0, -2**31 + 1, 0, -2**63, 0, -2**127 + 1, 0, -1))
check("floats", (1.5, 0.25), (1.75, -1.5))
check("logic", (True, "é"), ("ê", False))
check("logic", (False, "\U0001F600"), ("\U0001F601", True))

# Structs and enums
check("structs", ((), (7, "hello")), (8, "HELLO"))
check("structs", ((), (255, "a string longer than eight")), (0, "A STRING LONGER THAN EIGHT"))
check("scale", (("Empty", []), 2), ("Empty", []))
check("scale", (("Circle", [1.5]), 2), ("Circle", [3.0]))
check("scale", (("Rect", [3, 4]), 3), ("Rect", [9, 12]))
check("scale", (("Named", ["ab"]), 5), ("Named", ["ababababab"]))
for i in (0, 1, 127, 128, 254, 255):
    check("wide", (("V%03d" % i, []),), i)
    got, body = call("wide_at", i)
    assert got == ("V%03d" % i, []) and body == bytes([i]), (i, got, body)
check("flip", (Ok(41),), Err(42))
check("flip", (Err("oops"),), Ok("oops!"))

# Options and boxes, plain and niched
check("echo_option", (None,), None)
check("echo_option", (5,), 6)
check("niche", (None,), None)
got, body = call("niche", 9)
assert got == 9 and body == bytes.fromhex("09000000 01 fbffffff"), body.hex()
check("niched", ((7, 9),), (9, 7))
check("niched", ((None, 9),), (9, None))
check("niched", ((7, None),), (None, 7))
check("niched", ((None, None),), (None, None))
check("boxed", (7, "hi"), "hi7")
check("boxed", (1234, "a box of more than eight bytes: "), "a box of more than eight bytes: 1234")

# Arrays
check("arr", ([1, 2, 3],), 6)
check("arr", ([65535, 65535, 65535],), 196605)
check("reverse", (["a", "a longer string", "b"],), ["b", "a longer string", "a"])

# Hash tables: the server's bytes are the peer's, given the server's insertion order
check("sum_map", ({},), 0)
check("sum_map", ({"a": 1},), 1001)
check("sum_map", ({"one": 1, "two": 2, "a key longer than eight": 3},), 3006)
check("sum_map", ({key(i): i for i in range(300)},), sum(range(300)) + 300000)
table_type = METHODS["table"][2]
for n in list(range(0, 40)) + [100, 300]:
    (order, table), body = call("table", n)
    assert table == {key(i): i for i in range(n)}, (n, table)
    assert sorted(order) == sorted(table), (n, order)
    mine = encode(table_type, (order, [(k, table[k]) for k in order]))
    assert mine == body, f"table({n}): the server's bytes\n{body.hex()}\ndiffer from the peer's\n{mine.hex()}"
check("set_sum", ([],), 0)
check("set_sum", ([1, 2, 3],), 3006)
check("set_sum", ([i * 7 for i in range(50)],), sum(i * 7 for i in range(50)) + 50000)
squares_type = METHODS["squares"][2]
for n in list(range(0, 40)) + [200]:
    (order, squares), body = call("squares", n)
    assert squares == {i * i for i in range(n)}, (n, squares)
    assert encode(squares_type, (order, order)) == body, f"squares({n}): bytes differ"

# B-trees: the server's bytes are the peer's
check("sorted", ([],), [])
check("sorted", ([(i * 37) % 101 for i in range(101)],), list(range(101)))
btree_type = METHODS["btree"][2]
for n in list(range(0, 80)) + [215, 216, 217, 1300]:
    got, body = call("btree", n)
    expected = {i * 7: key(i) for i in range(n)}
    assert got == expected, (n, got)
    mine = encode(btree_type, expected)
    assert mine == body, f"btree({n}): the server's bytes\n{body.hex()}\ndiffer from the peer's\n{mine.hex()}"
for n in (0, 1, 5, 6, 7, 35, 36, 250):
    m = {i * 3: key(i) for i in range(n)}
    check("entries", (m,), sorted(m.items()))

# Shared pointers
one = Shared("a shared string, out of line")
check("shared", (one, one), True)
check("shared", (Shared("x"), Shared("x")), False)
(first_arc, second_arc), body = call("share", "a string shared by two Arcs")
assert first_arc is second_arc, "one value in the reply, one shared value"
assert encode(METHODS["share"][2], (first_arc, first_arc)) == body, body.hex()
print(f"kinds peer: {next_id} calls answered as expected")

# ---------------------------------------------------------------------------------------------
# 3. Archives that break §4's reading rules: each call fails with status 4, the connection goes on


def corrupt(name, args, at, new):
    """The archive of `args` for `name`, with the bytes at `at` (negative: from the end) replaced."""
    b = bytearray(encode(METHODS[name][1], args))
    at = at % len(b)
    b[at:at + len(new)] = new
    return bytes(b)


hostile = [
    ("bool 2", "logic", corrupt("logic", (True, "a"), 0, b"\x02")),
    ("a surrogate char", "logic", corrupt("logic", (True, "a"), 1, struct.pack("<I", 0xD800))),
    ("a char above 10ffff", "logic", corrupt("logic", (True, "a"), 1, struct.pack("<I", 0x110000))),
    ("Option tag 2", "echo_option", bytes.fromhex("02 05000000")),
    ("Some(0) as NonZeroU32", "niche", bytes.fromhex("01 00000000")),
    ("enum tag 4", "scale", corrupt("scale", (("Empty", []), 1), 0, b"\x04")),
    ("Result tag 2", "flip", corrupt("flip", (Ok(1),), 0, b"\x02")),
    ("hash table len = cap", "sum_map", corrupt("sum_map", ({"a": 1},), -8, struct.pack("<I", 2))),
    ("hash table miscounted", "sum_map", corrupt("sum_map", ({"a": 1},), 24, b"\x12\x55\x12")),
    ("control byte not repeated", "sum_map", corrupt("sum_map", ({"a": 1},), 27, b"\xff")),
    ("B-tree len off by one", "sorted", corrupt("sorted", (range(1, 8),), -4, struct.pack("<I", 6))),
    ("B-tree leaf of 6", "sorted", corrupt("sorted", (range(1, 8),), 21, struct.pack("<I", 6))),
    ("B-tree node kind 2", "sorted", corrupt("sorted", (range(1, 8),), 0, b"\x02")),
    ("out-of-line string of 8 bytes", "structs",
     bytes.fromhex("3132333435363738") + b"\x07" + bytes.fromhex("88000000 f7ffffff")),
]
for what, name, args in hostile:
    status, body = call_raw(name, args)
    assert status == STATUS_BAD_ARGUMENTS, f"{what}: status {status}, {body!r}"
check("echo_option", (1,), 2)
print(f"kinds peer: {len(hostile)} invalid archives refused")
send(s, struct.pack(">H", 1000), opcode=8)
print("kinds peer: all checks passed")
