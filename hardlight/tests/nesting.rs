//! Values nested without limit: a recursive `#[codable]` type lets a peer send an archive tens of
//! thousands of levels deep in a few hundred compressed bytes. Validation, decoding and dropping
//! recurse once per level, so without a bound such a message overflows the stack and aborts the whole
//! process. Both ends refuse values deeper than their maximum nesting depth and keep serving.
mod common;

use common::{RawPeer, Served, expect_close, method_index, raw_service, send_binary, within};
use futures_util::{SinkExt, StreamExt};
use hardlight::__private::wire::compression::seal;
use hardlight::__private::wire::frame::{
    FieldListWriter, ReplyStatus, decode_server, reply_header,
};
use hardlight::*;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A recursive wire type: what a JSON-like value or a syntax tree looks like.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    Leaf(u32),
    Node(Vec<Tree>),
}

#[connection_state]
pub struct Forest {
    pub tree: Option<Tree>,
}

#[rpc(state = Forest, events = Tree)]
pub trait Trees {
    /// How many levels `tree` has.
    async fn depth(&self, tree: Tree) -> HandlerResult<u32>;
    /// A tree `levels` deep, built by the server.
    async fn grow(&self, levels: u32) -> HandlerResult<Tree>;
    /// Counts the tree; nothing comes back.
    #[oneway]
    async fn plant(&self, tree: Tree);
}

#[rpc_handler]
impl Trees for TreesHandler {
    async fn depth(&self, tree: Tree) -> HandlerResult<u32> {
        Ok(depth_of(&tree))
    }

    async fn grow(&self, levels: u32) -> HandlerResult<Tree> {
        Ok(chain(levels as usize))
    }

    async fn plant(&self, tree: Tree) {
        self.state.write().await.tree = Some(tree);
    }
}

fn depth_of(tree: &Tree) -> u32 {
    match tree {
        Tree::Leaf(_) => 1,
        Tree::Node(children) => 1 + children.iter().map(depth_of).max().unwrap_or(0),
    }
}

/// A chain of `levels` nodes ending in a leaf (`levels` + 1 levels of `Tree` in all).
fn chain(levels: usize) -> Tree {
    let mut tree = Tree::Leaf(7);
    for _ in 0..levels {
        tree = Tree::Node(vec![tree]);
    }
    tree
}

/// The archive of `wrap(chain(levels))`: `(tree,)` for the arguments of `depth` or `plant`, the tree
/// itself for a reply or an event, `Some(tree)` for the state field. Building, encoding and dropping a chain this deep recurses
/// too, so it happens on a thread with a stack big enough for it: the attacker's side of the test.
fn deep_archive<T: Codable>(levels: usize, wrap: fn(Tree) -> T) -> Vec<u8> {
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || wrap(chain(levels)).encode().expect("encode"))
        .expect("spawn")
        .join()
        .expect("the encoding thread")
}

fn args(tree: Tree) -> (Tree,) {
    (tree,)
}

const HOSTILE_DEPTH: usize = 20_000;

/// The wire index of `depth`.
const DEPTH: u16 = method_index(
    <dyn Trees as hardlight::__private::ServiceSchema>::METHODS,
    "depth",
);

async fn serve(config: ServerConfig) -> Served {
    Served::spawn(config, factory!(TreesHandler)).await
}

impl Served {
    async fn client(&self) -> TreesClient {
        let client = TreesClient::new(self.client_config());
        within("connect", client.connect()).await.expect("connect");
        client
    }

    /// A raw peer of the `Trees` service that read `HELLO`.
    async fn raw(&self, compression: Option<u8>) -> RawPeer {
        let fingerprint = hardlight::fingerprint::<dyn Trees>();
        raw_service(self.port, fingerprint, compression).await.0
    }
}

/// A `CALL` of method `method` (id 1) carrying `args`, compressed at `level` if given.
fn call_frame(method: u16, args: &[u8], level: Option<u8>) -> Vec<u8> {
    let mut frame = vec![0x01, 0x00];
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(&method.to_le_bytes());
    frame.extend_from_slice(args);
    seal(frame, level)
}

/// Reads the next `REPLY`, skipping state and event frames; inflates it if `compressed`.
async fn next_reply(ws: &mut RawPeer, compressed: bool) -> (ReplyStatus, String) {
    loop {
        match within("a reply", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => {
                let frame =
                    hardlight::__private::wire::compression::open(&bytes, compressed, 1 << 24)
                        .expect("a well-formed frame");
                if let Ok(hardlight::__private::wire::frame::ServerFrame::Reply {
                    status,
                    body,
                    ..
                }) = decode_server(&frame)
                {
                    return (status, String::from_utf8_lossy(body).into_owned());
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

async fn still_serves(served: &Served) {
    let client = served.client().await;
    let tree = Tree::Node(vec![Tree::Leaf(1), Tree::Node(vec![Tree::Leaf(2)])]);
    assert_eq!(within("a call", client.depth(tree)).await.expect("call"), 3);
}

#[tokio::test]
async fn deep_call_arguments_fail_the_call_and_the_server_keeps_serving() {
    let served = serve(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let archive = deep_archive(HOSTILE_DEPTH, args);
    for level in [None, Some(9)] {
        let mut ws = served.raw(level).await;
        let frame = call_frame(DEPTH, &archive, level);
        if level.is_some() {
            // The point of the attack: a few hundred bytes on the wire.
            assert!(frame.len() < 2_000, "{} bytes compressed", frame.len());
        }
        send_binary(&mut ws, frame).await;
        let (status, text) = next_reply(&mut ws, level.is_some()).await;
        assert_eq!(status, ReplyStatus::BadArguments, "{text}");
        assert!(text.contains("nested deeper than"), "{text}");
        assert!(text.contains("128"), "{text}");
        // Only the call failed: the same connection goes on.
        let ok_args = (Tree::Node(vec![Tree::Leaf(3)]),).encode().unwrap();
        send_binary(&mut ws, call_frame(DEPTH, &ok_args, level)).await;
        let (status, text) = next_reply(&mut ws, level.is_some()).await;
        assert_eq!(status, ReplyStatus::Ok, "{text}");
    }
    still_serves(&served).await;
}

#[tokio::test]
async fn deep_one_way_arguments_close_that_connection_only() {
    let served = serve(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let mut ws = served.raw(Some(6)).await;
    let mut frame = vec![0x03, 0x00];
    frame.extend_from_slice(&2u16.to_le_bytes());
    frame.extend_from_slice(&deep_archive(HOSTILE_DEPTH, args));
    send_binary(&mut ws, seal(frame, Some(6))).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1007, "{reason}");
    still_serves(&served).await;
}

#[tokio::test]
async fn the_server_depth_is_configurable() {
    let served = serve(ServerConfig::new_self_signed("127.0.0.1:0").max_nesting_depth(300)).await;
    let mut ws = served.raw(None).await;
    // `(Tree,)` of 250 nodes: the root and 250 vectors. Over the default, within 300.
    send_binary(&mut ws, call_frame(DEPTH, &deep_archive(250, args), None)).await;
    let (status, text) = next_reply(&mut ws, false).await;
    assert_eq!(status, ReplyStatus::Ok, "{text}");
    send_binary(&mut ws, call_frame(DEPTH, &deep_archive(300, args), None)).await;
    let (status, text) = next_reply(&mut ws, false).await;
    assert_eq!(status, ReplyStatus::BadArguments, "{text}");
    assert!(text.contains("depth of 300"), "{text}");
}

#[tokio::test]
async fn a_value_at_the_default_depth_is_accepted() {
    let served = serve(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = served.client().await;
    // 127 nodes and a leaf: the root's vector and 126 more below it make 127 levels, plus the root.
    assert_eq!(within("call", client.depth(chain(127))).await.unwrap(), 128);
    match within("call", client.depth(chain(128))).await {
        Err(CallError::Rpc(RpcError::BadArguments(text))) => {
            assert!(text.contains("nested deeper"), "{text}")
        }
        other => panic!("expected BadArguments, got {other:?}"),
    }
    // And a reply as deep as allowed comes back.
    assert_eq!(within("call", client.grow(127)).await.unwrap(), chain(127));
}

// --- the client against a hostile server --------------------------------------------------------

/// What the fake server sends with its first reply.
#[derive(Clone, Copy, PartialEq)]
enum Hostile {
    /// The reply itself is the deep value.
    Reply,
    /// A deep event, then a valid one, then the reply.
    Event,
    /// A `STATE` frame whose field is the deep value, then the reply.
    State,
}

/// A fake `Trees` server: accepts one plaintext connection, sends `HELLO` (announcing compression at
/// `level`, if given), answers the first call with a deep value as `how` says, and every call with
/// `Tree::Leaf(5)`; compressed at `level` if given.
async fn hostile_server(how: Hostile, level: Option<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tree = deep_archive(HOSTILE_DEPTH, |tree| tree);
    let some_tree = deep_archive(HOSTILE_DEPTH, Some);
    tokio::spawn(async move {
        let mut ws = common::accept_with_hello(&listener, level.unwrap_or(0)).await;
        let mut first = true;
        while let Some(Ok(message)) = ws.next().await {
            let Message::Binary(bytes) = message else {
                continue;
            };
            let Ok(hardlight::__private::wire::frame::ClientFrame::Call { call_id, .. }) =
                hardlight::__private::wire::frame::decode_client(&bytes)
            else {
                continue;
            };
            let mut frames = Vec::new();
            let mut body = Tree::Leaf(5).encode().unwrap();
            if std::mem::take(&mut first) {
                match how {
                    Hostile::Reply => body = tree.clone(),
                    Hostile::Event => {
                        for payload in [tree.clone(), Tree::Leaf(9).encode().unwrap()] {
                            let mut frame = vec![0x13, 0x00, 1, 0, b't'];
                            frame.extend_from_slice(&payload);
                            frames.push(frame);
                        }
                    }
                    Hostile::State => {
                        let mut state = FieldListWriter::state();
                        state.push_encoded(0, &some_tree);
                        frames.push(state.finish());
                    }
                }
            }
            let mut reply = reply_header(call_id, ReplyStatus::Ok, body.len());
            reply.extend_from_slice(&body);
            frames.push(reply);
            for frame in frames {
                let frame = seal(frame, level);
                if ws.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    });
    port
}

/// The client of a [`hostile_server`] compressing at `level`.
async fn client_of(port: u16, level: Option<u8>) -> TreesClient {
    let compression = level.map_or(Compression::none(), Compression::new);
    let client = TreesClient::new(
        ClientConfig::plaintext(format!("127.0.0.1:{port}")).compression(compression),
    );
    within("connect", client.connect()).await.expect("connect");
    client
}

/// A call whose answer (its reply, or the state change before it) was refused for nesting deeper
/// than the client's default maximum.
fn expect_too_deep(result: Result<Tree, CallError>) {
    use hardlight::wire::DecodeError::TooDeep;
    match result {
        Err(CallError::Rpc(RpcError::Protocol(
            ProtocolError::Reply(TooDeep { max_depth: 128 })
            | ProtocolError::StateField {
                source: TooDeep { max_depth: 128 },
                ..
            },
        ))) => {}
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deep_reply_fails_its_call_and_the_client_goes_on() {
    for level in [None, Some(6)] {
        let client = client_of(hostile_server(Hostile::Reply, level).await, level).await;
        expect_too_deep(within("call", client.grow(1)).await);
        assert_eq!(within("call", client.grow(1)).await.unwrap(), Tree::Leaf(5));
    }
}

#[tokio::test]
async fn a_deep_event_is_dropped_and_the_client_goes_on() {
    for level in [None, Some(6)] {
        let client = client_of(hostile_server(Hostile::Event, level).await, level).await;
        let mut events = client.subscribe().await.expect("subscribe");
        // Events sent before a reply are handled before it resolves its call.
        assert_eq!(within("call", client.grow(1)).await.unwrap(), Tree::Leaf(5));
        match events.try_recv() {
            Some(Ok(event)) => assert_eq!(event.payload, Tree::Leaf(9)),
            other => panic!("expected the valid event only, got {other:?}"),
        }
        assert!(events.try_recv().is_none());
        assert!(client.is_connected());
    }
}

#[tokio::test]
async fn a_deep_state_field_ends_the_connection() {
    for level in [None, Some(6)] {
        let client = client_of(hostile_server(Hostile::State, level).await, level).await;
        expect_too_deep(within("call", client.grow(1)).await);
        assert!(!client.is_connected());
    }
}

/// The same hostile bytes, straight into the decoder with the default depth, on a thread whose
/// stack is small (512 KiB, a quarter of a tokio worker's): refused, not a crash. Validating,
/// decoding and dropping a value at the default depth fit that stack even in a debug build (about
/// 3 KiB a level there; under 0.5 KiB in a release build).
#[test]
fn decoding_fits_a_small_stack() {
    let hostile = deep_archive(HOSTILE_DEPTH, args);
    let allowed = deep_archive(127, args);
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            assert!(matches!(
                <(Tree,)>::decode(&hostile),
                Err(hardlight::wire::DecodeError::TooDeep { max_depth: 128 })
            ));
            let (tree,) = <(Tree,)>::decode(&allowed).expect("a tree at the default depth");
            assert_eq!(depth_of(&tree), 128);
        })
        .expect("spawn")
        .join()
        .expect("decoding on a 512 KiB stack");
}
