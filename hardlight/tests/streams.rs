//! Server-streaming methods over real sockets: items in order within the client's credit, ends and
//! errors, cancellation by dropping, deadlines, connection loss, shutdown, ordering against state
//! changes, limits, and raw peers that use (or break) the flow control.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt, stream};
use hardlight::__private::ServiceSchema;
use hardlight::__private::wire::frame::{
    ClientFrame, ItemsWriter, ReplyStatus, ServerFrame, decode_client, decode_server, encode_call,
    encode_credit, item_header,
};
use hardlight::wire::close;
use hardlight::*;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub seq: u32,
    pub price: u64,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum FeedError {
    NoSymbol,
    Halted { at: u32 },
}

#[connection_state]
pub struct FeedState {
    /// Set by `counted` to `i + 1` before it yields item `i`.
    pub sent: u32,
}

#[rpc(state = FeedState)]
pub trait Feed {
    /// `count` ticks, then the end.
    async fn ticks(&self, count: u32) -> HandlerResult<Streaming<Tick>>;
    /// Refuses to start for `count` 0; otherwise `halt_at` items, then `Halted`.
    async fn halting(
        &self,
        count: u32,
        halt_at: u32,
    ) -> Result<Streaming<Tick, FeedError>, FeedError>;
    /// Items for ever, one every `period_ms` (as fast as taken for 0).
    async fn endless(&self, period_ms: u32) -> HandlerResult<Streaming<u64>>;
    /// `count` items, each after a state change that says how many were sent.
    async fn counted(&self, count: u32) -> HandlerResult<Streaming<u32>>;
    /// One item of `small` bytes, then one of `large` bytes.
    async fn sized(&self, small: u32, large: u32) -> HandlerResult<Streaming<Vec<u8>>>;
    /// Two items, then a panic.
    async fn panicky(&self) -> HandlerResult<Streaming<u32>>;
    /// The same shared string `count` times.
    async fn shared(&self, count: u32) -> HandlerResult<Streaming<Arc<String>>>;
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
}

/// What the test sees of the handlers' streams.
#[derive(Default)]
pub struct Probe {
    /// Items produced by each `endless` stream, in the order they were started.
    produced: watch::Sender<Vec<u64>>,
    /// `endless` streams alive (created and not yet dropped).
    alive: watch::Sender<usize>,
}

impl Probe {
    /// Waits until the `stream`th `endless` stream has produced `n` items.
    async fn produced_at_least(&self, stream: usize, n: u64) -> u64 {
        let mut rx = self.produced.subscribe();
        let produced = within(
            "items to be produced",
            rx.wait_for(|p| p.get(stream).is_some_and(|p| *p >= n)),
        )
        .await
        .unwrap();
        produced[stream]
    }

    fn produced(&self, stream: usize) -> u64 {
        self.produced.borrow()[stream]
    }

    async fn alive_is(&self, n: usize) {
        let mut rx = self.alive.subscribe();
        within("the handlers' streams", rx.wait_for(|a| *a == n))
            .await
            .unwrap();
    }
}

/// Counts an `endless` stream alive until it is dropped.
struct Alive(Arc<Probe>);

impl Alive {
    fn new(probe: Arc<Probe>) -> Self {
        probe.alive.send_modify(|a| *a += 1);
        Self(probe)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.send_modify(|a| *a -= 1);
    }
}

#[rpc_handler(context = Probe)]
impl Feed for FeedHandler {
    async fn ticks(&self, count: u32) -> HandlerResult<Streaming<Tick>> {
        Ok(Streaming::iter((0..count).map(|seq| Tick {
            seq,
            price: 1000 + u64::from(seq),
        })))
    }

    async fn halting(
        &self,
        count: u32,
        halt_at: u32,
    ) -> Result<Streaming<Tick, FeedError>, FeedError> {
        if count == 0 {
            return Err(FeedError::NoSymbol);
        }
        let items = (0..count).map(move |seq| {
            if seq == halt_at {
                Err(FeedError::Halted { at: seq })
            } else {
                Ok(Tick { seq, price: 7 })
            }
        });
        Ok(Streaming::from_results(stream::iter(items)))
    }

    async fn endless(&self, period_ms: u32) -> HandlerResult<Streaming<u64>> {
        let probe = self.context.clone();
        let alive = Alive::new(probe.clone());
        let mut index = 0;
        probe.produced.send_modify(|p| {
            index = p.len();
            p.push(0);
        });
        let items = stream::unfold((0u64, alive), move |(n, alive)| {
            let probe = probe.clone();
            async move {
                if period_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(u64::from(period_ms))).await;
                }
                probe.produced.send_modify(|p| p[index] += 1);
                Some((n, (n + 1, alive)))
            }
        });
        Ok(Streaming::new(items))
    }

    async fn counted(&self, count: u32) -> HandlerResult<Streaming<u32>> {
        let state = self.state.clone();
        let items = stream::unfold(0u32, move |i| {
            let state = state.clone();
            async move {
                if i == count {
                    return None;
                }
                state.write().await.sent = i + 1;
                Some((i, i + 1))
            }
        });
        Ok(Streaming::new(items))
    }

    async fn sized(&self, small: u32, large: u32) -> HandlerResult<Streaming<Vec<u8>>> {
        Ok(Streaming::iter([
            vec![1u8; small as usize],
            vec![2u8; large as usize],
        ]))
    }

    async fn panicky(&self) -> HandlerResult<Streaming<u32>> {
        let items = stream::iter(0..3u32).map(|i| {
            if i == 2 {
                panic!("the feed broke");
            }
            i
        });
        Ok(Streaming::new(items))
    }

    async fn shared(&self, count: u32) -> HandlerResult<Streaming<Arc<String>>> {
        let text = Arc::new("one string, shared by every item".to_owned());
        Ok(Streaming::iter((0..count).map(move |_| text.clone())))
    }

    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        Ok(a + b)
    }
}

type FeedServer = Served<Arc<Probe>>;

async fn feed_server(config: ServerConfig) -> FeedServer {
    let probe = Arc::new(Probe::default());
    let server = Server::new(config, factory!(FeedHandler, probe.clone()));
    Served::bind(server, probe).await
}

async fn feed_client(server: &FeedServer) -> FeedClient {
    feed_client_with(server.client_config()).await
}

async fn feed_client_with(config: ClientConfig) -> FeedClient {
    let client = FeedClient::new(config);
    within("connect", client.connect()).await.expect("connect");
    client
}

/// Reads the stream to its end: the items, and the error that ended it (if any).
async fn drain<T, E>(mut items: Streaming<T, E>) -> (Vec<T>, Option<CallError<E>>) {
    let mut got = Vec::new();
    while let Some(item) = within("the next item", items.next()).await {
        match item {
            Ok(item) => got.push(item),
            Err(e) => {
                assert!(
                    within("the end after an error", items.next())
                        .await
                        .is_none(),
                    "an error ends the stream"
                );
                return (got, Some(e));
            }
        }
    }
    (got, None)
}

/// Round trips on the same connection until the server counts no call in flight.
async fn settles_with_no_call_in_flight(server: &FeedServer, client: &FeedClient) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.stats.calls_in_flight() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a streaming call stayed in flight"
        );
        within("a round trip", client.add(0, 0)).await.unwrap();
    }
}

#[tokio::test]
async fn items_arrive_in_order_then_the_stream_ends() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    // Many times the client's window: credit is granted again and again.
    let (items, error) = drain(client.ticks(1000).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(items.len(), 1000);
    for (i, tick) in items.iter().enumerate() {
        assert_eq!(
            *tick,
            Tick {
                seq: i as u32,
                price: 1000 + i as u64
            }
        );
    }
    // An empty stream ends at once, without any credit being needed.
    let (items, error) = drain(client.ticks(0).await.unwrap()).await;
    assert!(items.is_empty() && error.is_none());
    settles_with_no_call_in_flight(&server, &client).await;
}

#[tokio::test]
async fn streams_work_compressed() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").allow_compression(true);
    let server = feed_server(config).await;
    let client = feed_client_with(server.client_config().compression(Compression::default())).await;
    // Items large enough to be compressed, in order, intact.
    let (items, error) = drain(client.sized(4096, 8192).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(items, vec![vec![1u8; 4096], vec![2u8; 8192]]);
    let (items, _) = drain(client.ticks(100).await.unwrap()).await;
    assert_eq!(items.len(), 100);
}

#[tokio::test]
async fn a_handler_error_ends_the_stream_after_the_items_before_it() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let (items, error) = drain(client.halting(10, 3).await.unwrap()).await;
    assert_eq!(items.iter().map(|t| t.seq).collect::<Vec<_>>(), [0, 1, 2]);
    match error {
        Some(CallError::Handler(FeedError::Halted { at: 3 })) => {}
        other => panic!("expected the handler's error, got {other:?}"),
    }
    // A handler that refuses to stream fails the call itself, with its own error type.
    match client.halting(0, 0).await {
        Err(CallError::Handler(FeedError::NoSymbol)) => {}
        other => panic!("expected NoSymbol, got {other:?}"),
    }
    settles_with_no_call_in_flight(&server, &client).await;
}

/// The length of an `ITEM` frame carrying a `u64`: the 6-byte header and the 8-byte archive.
const ITEM_FRAME_U64: u64 = 14;
/// What a `u64` takes of an `ITEMS` frame: its 4-byte length and its 8-byte archive (the frame's
/// 6-byte header comes on top, once per frame).
const ITEMS_RECORD_U64: u64 = 12;

#[tokio::test]
async fn a_consumer_that_stops_reading_stops_only_its_producer() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let mut stalled = client.endless(0).await.unwrap();
    // The first item proves the stream runs; then nothing more is read from it.
    assert_eq!(within("an item", stalled.next()).await.unwrap().unwrap(), 0);
    // The producer stops at the window the client granted: 256 KiB of frames (the last one may
    // overdraw it by less than one item), plus the one item the server holds for the next credit.
    // The client reads `ITEMS` frames, whose items take 12 bytes each for a u64 (and 6 a frame),
    // less than a 14-byte `ITEM` each. The one item read is not granted back before a quarter of
    // the window is read.
    let window = 256 * 1024u64;
    let sent = window.div_ceil(ITEM_FRAME_U64);
    let at_most = window / ITEMS_RECORD_U64 + 2;
    let produced = server.ctx.produced_at_least(0, sent + 1).await;
    // Meanwhile the connection serves everything else: calls...
    for i in 0..200u32 {
        assert_eq!(within("a call", client.add(i, 1)).await.unwrap(), i + 1);
    }
    // ... and another stream, more than a window long.
    let mut other = client.endless(0).await.unwrap();
    for expected in 0..2 * sent {
        let item = within("the other stream", other.next()).await.unwrap();
        assert_eq!(item.unwrap(), expected);
    }
    drop(other);
    server.ctx.alive_is(1).await;
    // The stalled producer stayed within its credit: what a stream holds is bounded by it.
    let stalled_at = server.ctx.produced(0);
    assert!(
        stalled_at <= at_most,
        "the stalled stream produced {stalled_at} items (first seen {produced}), more than the \
         window allows ({at_most})"
    );
    // Reading again resumes it where it stopped, past the window.
    for expected in 1..2 * sent {
        let item = within("the stalled stream", stalled.next()).await.unwrap();
        assert_eq!(item.unwrap(), expected);
    }
}

#[tokio::test]
async fn dropping_a_stream_cancels_it_and_drops_the_handlers_stream() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let mut items = client.endless(1).await.unwrap();
    for expected in 0..5u64 {
        assert_eq!(
            within("an item", items.next()).await.unwrap().unwrap(),
            expected
        );
    }
    server.ctx.alive_is(1).await;
    drop(items);
    // The server learns promptly and drops what the handler's stream holds.
    server.ctx.alive_is(0).await;
    settles_with_no_call_in_flight(&server, &client).await;
    assert!(client.is_connected());
}

#[tokio::test]
async fn a_deadline_applies_to_the_whole_stream() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let timed = client.with_timeout(Duration::from_millis(300));
    let (items, error) = drain(timed.endless(5).await.unwrap()).await;
    assert!(!items.is_empty(), "items flow until the deadline");
    match error {
        Some(CallError::Rpc(RpcError::Timeout(_))) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    server.ctx.alive_is(0).await;
    settles_with_no_call_in_flight(&server, &client).await;
}

#[tokio::test]
async fn the_servers_call_timeout_ends_a_stream_with_timed_out() {
    let config =
        ServerConfig::new_self_signed("127.0.0.1:0").call_timeout(Duration::from_millis(200));
    let server = feed_server(config).await;
    let client = feed_client(&server).await;
    let (_, error) = drain(client.endless(5).await.unwrap()).await;
    match error {
        Some(CallError::Rpc(RpcError::Timeout(why))) => {
            assert!(why.contains("did not end within"), "{why}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    server.ctx.alive_is(0).await;
}

#[tokio::test]
async fn losing_the_connection_ends_every_open_stream_with_an_error() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let mut first = client.endless(1).await.unwrap();
    let mut second = client.endless(0).await.unwrap();
    within("an item", first.next()).await.unwrap().unwrap();
    within("an item", second.next()).await.unwrap().unwrap();
    server.kill();
    for items in [&mut first, &mut second] {
        let mut ended = None;
        while let Some(item) = within("the stream to end", items.next()).await {
            if let Err(e) = item {
                ended = Some(e);
                break;
            }
        }
        match ended {
            Some(CallError::Rpc(e)) => {
                assert!(matches!(e, RpcError::ConnectionClosed { .. }), "{e:?}")
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
        assert!(within("the end", items.next()).await.is_none());
    }
}

#[tokio::test]
async fn an_open_stream_ends_with_an_error_and_does_not_survive_a_reconnect() {
    let port = HeldPort::new();
    let server = feed_server(ServerConfig::plaintext(port.address())).await;
    let reconnect =
        client::Reconnect::default().delays(Duration::from_millis(10), Duration::from_millis(100));
    let client = FeedClient::new(server.client_config().reconnect(reconnect));
    let mut events = client.connection_events();
    within("connect", client.connect()).await.unwrap();
    let mut items = client.endless(1).await.unwrap();
    within("an item", items.next()).await.unwrap().unwrap();

    server.kill();
    let (_, ended) = drain(items).await;
    assert!(
        matches!(
            ended,
            Some(CallError::Rpc(RpcError::ConnectionClosed { .. }))
        ),
        "{ended:?}"
    );

    // Back on a new server: the client reconnects, and a new stream runs there.
    let _server = feed_server(ServerConfig::plaintext(port.address())).await;
    loop {
        match within("the reconnect", events.recv()).await {
            Ok(client::ConnectionEvent::Connected) => break,
            Ok(_) => continue,
            Err(e) => panic!("connection events ended: {e}"),
        }
    }
    let (counted, ended) = drain(client.counted(5).await.unwrap()).await;
    assert_eq!((counted, ended.is_none()), (vec![0, 1, 2, 3, 4], true));
}

#[tokio::test]
async fn a_shutdown_ends_open_streams_within_the_grace_period() {
    let mut server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let mut items = client.endless(1).await.unwrap();
    within("an item", items.next()).await.unwrap().unwrap();
    server.shutdown.shutdown(Duration::from_millis(300));
    let mut ended = None;
    while let Some(item) = within("the stream to end", items.next()).await {
        if let Err(e) = item {
            ended = Some(e);
            break;
        }
    }
    assert!(
        matches!(
            ended,
            Some(CallError::Rpc(RpcError::ConnectionClosed { .. }))
        ),
        "{ended:?}"
    );
    within("the server to stop", server.stopped())
        .await
        .unwrap();
    server.ctx.alive_is(0).await;
}

#[tokio::test]
async fn state_changes_made_before_an_item_arrive_before_it() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let mut items = client.counted(300).await.unwrap();
    let mut seen = 0;
    while let Some(item) = within("an item", items.next()).await {
        let i = item.unwrap();
        assert_eq!(i, seen);
        let sent = client.state().await.unwrap().sent;
        assert!(
            sent > i,
            "item {i} arrived before the state change made before it ({sent})"
        );
        seen += 1;
    }
    assert_eq!(seen, 300);
    assert_eq!(client.state().await.unwrap().sent, 300);
}

#[tokio::test]
async fn an_item_over_the_message_size_ends_the_stream_and_the_connection_goes_on() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(64 * 1024);
    let server = feed_server(config).await;
    let client = feed_client(&server).await;
    let (items, error) = drain(client.sized(10, 100_000).await.unwrap()).await;
    assert_eq!(items, vec![vec![1u8; 10]]);
    match error {
        Some(CallError::Rpc(RpcError::Internal(why))) => {
            assert!(why.contains("exceeds the maximum message size"), "{why}")
        }
        other => panic!("expected Internal, got {other:?}"),
    }
    assert_eq!(within("a call", client.add(2, 2)).await.unwrap(), 4);
}

#[tokio::test]
async fn a_panicking_stream_ends_with_handler_panicked() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let (items, error) = drain(client.panicky().await.unwrap()).await;
    assert_eq!(items, vec![0, 1]);
    match error {
        Some(CallError::Rpc(RpcError::HandlerPanicked(why))) => {
            assert!(why.contains("the feed broke"), "{why}")
        }
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    assert_eq!(within("a call", client.add(1, 1)).await.unwrap(), 2);
}

#[tokio::test]
async fn items_sharing_a_value_each_carry_it_whole() {
    // Items encoded one after the other into one frame share nothing: each archive holds the
    // string itself, not a pointer into the item before it.
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = feed_client(&server).await;
    let (items, error) = drain(client.shared(500).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(items.len(), 500);
    assert!(
        items
            .iter()
            .all(|text| text.as_str() == "one string, shared by every item")
    );
}

#[tokio::test]
async fn open_streams_hold_call_slots_and_the_next_call_waits_for_one() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").max_calls_in_flight(2);
    let server = feed_server(config).await;
    let client = feed_client(&server).await;
    let first = client.endless(1).await.unwrap();
    let _second = client.endless(1).await.unwrap();
    server.ctx.alive_is(2).await;
    // Both slots are taken: a call waits for one (here until its own deadline passes)...
    match client
        .with_timeout(Duration::from_millis(200))
        .add(1, 1)
        .await
    {
        Err(CallError::Rpc(RpcError::Timeout(_))) => {}
        other => panic!("expected the call to wait for a slot, got {other:?}"),
    }
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.add(20, 22).await }
    });
    // ... until a stream ends and frees its slot.
    drop(first);
    assert_eq!(
        within("the waiting call", waiting).await.unwrap().unwrap(),
        42
    );
}

const TICKS: u16 = method_index(<dyn Feed as ServiceSchema>::METHODS, "ticks");
const ADD: u16 = method_index(<dyn Feed as ServiceSchema>::METHODS, "add");
const COUNTED: u16 = method_index(<dyn Feed as ServiceSchema>::METHODS, "counted");

/// The next frame a raw peer receives.
async fn next_frame(ws: &mut RawPeer) -> Vec<u8> {
    match within("a frame", ws.next()).await {
        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_raw_peer_gets_items_only_within_the_credit_it_grants() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Feed>(), None).await;
    send_binary(&mut ws, encode_call(1, TICKS, &(5u32,)).unwrap()).await;
    // Accepted: `OPENED` comes without any credit.
    assert_eq!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Opened { call_id: 1 }
    );
    // No credit yet: a call made after the stream is answered, and no item comes before it.
    send_binary(&mut ws, encode_call(2, ADD, &(1u32, 2u32)).unwrap()).await;
    match decode_server(&next_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 2,
            status: ReplyStatus::Ok,
            ..
        } => {}
        other => panic!("expected the reply to call 2, got {other:?}"),
    }
    // Credit in bytes: an item's frame is 18 bytes (6 of header, 12 of `Tick`). 19 bytes let two
    // items go (the second overdraws the credit), and nothing more until more credit (a call
    // proves it).
    send_binary(&mut ws, encode_credit(1, 19)).await;
    send_binary(&mut ws, encode_credit(77, 500)).await; // an id with no stream: ignored
    for seq in 0..2u32 {
        match decode_server(&next_frame(&mut ws).await).unwrap() {
            ServerFrame::Item { call_id: 1, item } => {
                assert_eq!(item.len(), 12);
                let tick = Tick::decode(item).unwrap();
                assert_eq!(tick.seq, seq);
            }
            other => panic!("expected an item, got {other:?}"),
        }
    }
    send_binary(&mut ws, encode_call(3, ADD, &(1u32, 2u32)).unwrap()).await;
    assert!(matches!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Reply { call_id: 3, .. }
    ));
    // Credit for more than is left: the rest, then the reply that ends the stream.
    send_binary(&mut ws, encode_credit(1, 1000)).await;
    for seq in 2..5u32 {
        match decode_server(&next_frame(&mut ws).await).unwrap() {
            ServerFrame::Item { call_id: 1, item } => {
                assert_eq!(Tick::decode(item).unwrap().seq, seq)
            }
            other => panic!("expected an item, got {other:?}"),
        }
    }
    match decode_server(&next_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 1,
            status: ReplyStatus::Ok,
            body,
        } => {
            <()>::decode(body).unwrap();
        }
        other => panic!("expected the end of the stream, got {other:?}"),
    }
    // Credit for a stream that has ended is ignored; the connection goes on.
    send_binary(&mut ws, encode_credit(1, 1)).await;
    send_binary(&mut ws, encode_call(4, ADD, &(2u32, 2u32)).unwrap()).await;
    assert!(matches!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Reply {
            call_id: 4,
            status: ReplyStatus::Ok,
            ..
        }
    ));
}

/// Reads a stream's item frames (`ITEM` or `ITEMS`) of call `call_id` until the reply to call
/// `until`; returns the ticks and each frame's length and item count.
async fn item_frames_until(
    ws: &mut RawPeer,
    call_id: u32,
    until: u32,
) -> (Vec<u32>, Vec<(usize, usize)>) {
    let (mut seqs, mut frames) = (Vec::new(), Vec::new());
    loop {
        let frame = next_frame(ws).await;
        match decode_server(&frame).unwrap() {
            ServerFrame::Item { call_id: id, item } if id == call_id => {
                seqs.push(Tick::decode(item).unwrap().seq);
                frames.push((frame.len(), 1));
            }
            ServerFrame::Items { call_id: id, items } if id == call_id => {
                let before = seqs.len();
                seqs.extend(
                    items
                        .iter()
                        .map(|item| Tick::decode(item.unwrap()).unwrap().seq),
                );
                frames.push((frame.len(), seqs.len() - before));
            }
            ServerFrame::Reply { call_id: id, .. } if id == until => return (seqs, frames),
            other => panic!("expected items of call {call_id}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_raw_peer_that_offers_batch_gets_items_together_within_its_credit() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let offer =
        hardlight::__private::wire::handshake::client_offer(fingerprint::<dyn Feed>(), None);
    let (mut ws, _hello) = raw_offering(server.port, offer).await;
    send_binary(&mut ws, encode_call(1, TICKS, &(5000u32,)).unwrap()).await;
    assert_eq!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Opened { call_id: 1 }
    );
    // 1000 bytes of credit: frames while any is left, the last overdrawing it by less than one
    // item (a 4-byte length and a 12-byte `Tick`); a call's reply proves nothing more follows.
    send_binary(&mut ws, encode_credit(1, 1000)).await;
    send_binary(&mut ws, encode_call(2, ADD, &(1u32, 2u32)).unwrap()).await;
    let (first, frames) = item_frames_until(&mut ws, 1, 2).await;
    let sent: usize = frames.iter().map(|(len, _)| len).sum();
    assert!(
        (1000..1000 + 16).contains(&sent),
        "{sent} bytes for a credit of 1000"
    );
    assert!(
        frames.iter().any(|&(_, items)| items > 1),
        "ready items go together: {frames:?}"
    );
    // The rest, in order, in frames of at most `MAX_BATCH` bytes, then the stream's end (its
    // reply).
    send_binary(&mut ws, encode_credit(1, 1_000_000)).await;
    let (rest, frames) = item_frames_until(&mut ws, 1, 1).await;
    let max = hardlight::__private::wire::frame::MAX_BATCH;
    assert!(frames.iter().all(|&(len, _)| len <= max), "{frames:?}");
    let seqs: Vec<u32> = first.into_iter().chain(rest).collect();
    assert_eq!(seqs, (0..5000).collect::<Vec<u32>>());
}

#[tokio::test]
async fn a_batch_stops_at_the_handlers_state_change() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let offer =
        hardlight::__private::wire::handshake::client_offer(fingerprint::<dyn Feed>(), None);
    let (mut ws, _hello) = raw_offering(server.port, offer).await;
    // `counted` changes the state before each item: each item goes alone, after its STATE.
    send_binary(&mut ws, encode_call(1, COUNTED, &(50u32,)).unwrap()).await;
    send_binary(&mut ws, encode_credit(1, 1_000_000)).await;
    assert_eq!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Opened { call_id: 1 }
    );
    let mut sent_before = None;
    let mut items = Vec::new();
    loop {
        let frame = next_frame(&mut ws).await;
        match decode_server(&frame).unwrap() {
            ServerFrame::State(fields) => {
                let (index, value) = fields.iter().next().expect("a changed field");
                assert_eq!(index, 0, "the field `sent`");
                sent_before = Some(u32::decode(value).unwrap());
            }
            ServerFrame::Item { call_id: 1, item } => {
                let i = u32::decode(item).unwrap();
                assert_eq!(sent_before.take(), Some(i + 1), "item {i} after its STATE");
                items.push(i);
            }
            ServerFrame::Items { call_id: 1, items } => {
                panic!(
                    "items batched across state changes: {:?}",
                    items.iter().count()
                )
            }
            ServerFrame::Reply { call_id: 1, .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(items, (0..50).collect::<Vec<u32>>());
}

#[tokio::test]
async fn a_malformed_credit_frame_is_a_protocol_error() {
    let server = feed_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Feed>(), None).await;
    let mut frame = encode_credit(1, 1);
    frame.pop();
    send_binary(&mut ws, frame).await;
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR);
}

/// A fake server that answers the first call with `items` items (18-byte frames), ignoring the
/// client's credit.
async fn flooding_server(items: u32) -> (u16, watch::Receiver<Option<u16>>) {
    let frames = (0..items).map(|seq| {
        move |call_id| {
            Tick { seq, price: 1 }
                .encode_into(item_header(call_id, 16))
                .unwrap()
        }
    });
    fake_streaming_server(frames.collect()).await
}

/// A fake server that answers the first call with `OPENED`, then the frames `frames` make for its
/// call id, whatever the client's credit; reports the client's close code.
async fn fake_streaming_server(
    frames: Vec<impl Fn(u32) -> Vec<u8> + Send + Sync + 'static>,
) -> (u16, watch::Receiver<Option<u16>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (closed_tx, closed) = watch::channel(None);
    tokio::spawn(async move {
        let mut ws = accept_with_hello(&listener, 0).await;
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Binary(bytes) => {
                    let Ok(ClientFrame::Call { call_id, .. }) = decode_client(&bytes) else {
                        continue;
                    };
                    let opened = hardlight::__private::wire::frame::encode_opened(call_id);
                    if ws.send(Message::Binary(opened.into())).await.is_err() {
                        return;
                    }
                    for frame in &frames {
                        if ws
                            .send(Message::Binary(frame(call_id).into()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                Message::Close(frame) => {
                    let _ = closed_tx.send(Some(frame.map_or(0, |f| f.code.into())));
                    return;
                }
                _ => {}
            }
        }
    });
    (port, closed)
}

#[tokio::test]
async fn a_server_that_exceeds_the_credit_is_closed_with_a_protocol_error() {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    // One more item than the client's first window (256 KiB) lets through.
    let (port, mut closed) = flooding_server((256 * 1024u32).div_ceil(18) + 1).await;
    let client = feed_client_with(ClientConfig::plaintext(format!("127.0.0.1:{port}"))).await;
    let mut items = client.ticks(1000).await.unwrap();
    // Nothing is read (and so nothing granted again) before the client has closed the connection.
    let code = *within("the close", closed.wait_for(Option::is_some))
        .await
        .unwrap();
    assert_eq!(code, Some(close::PROTOCOL_ERROR));
    let mut error = None;
    while let Some(item) = within("the stream", items.next()).await {
        match item {
            Ok(_) => {
                SEEN.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(SEEN.load(Ordering::Relaxed) <= (256 * 1024u32).div_ceil(18));
    match error {
        Some(CallError::Rpc(e)) => assert!(e.to_string().contains("beyond the credit"), "{e}"),
        other => panic!("expected the connection to end, got {other:?}"),
    }
}

/// An `ITEMS` frame of call `call_id` holding ticks `seqs`.
fn ticks_frame(call_id: u32, seqs: std::ops::Range<u32>) -> Vec<u8> {
    let item = |seq| {
        Tick { seq, price: 1 }
            .encode_into(item_header(call_id, 16))
            .unwrap()
    };
    let mut writer = ItemsWriter::starting_with(call_id, &item(seqs.start), 0);
    for seq in seqs.skip(1) {
        writer.push_item_frame(&item(seq));
    }
    writer.finish()
}

/// The error that ends `items`, after whatever items came before it.
async fn stream_error<T>(mut items: Streaming<T>) -> (usize, Option<CallError<HandlerError>>) {
    let mut seen = 0;
    while let Some(item) = within("the stream", items.next()).await {
        match item {
            Ok(_) => seen += 1,
            Err(e) => return (seen, Some(e)),
        }
    }
    (seen, None)
}

/// Calls `ticks` on a fake server that answers with `frames`; returns the client's close code, then
/// how many items the stream gave before the error that ended it.
async fn against_fake_frames(
    frames: Vec<impl Fn(u32) -> Vec<u8> + Send + Sync + 'static>,
) -> (Option<u16>, usize, Option<CallError<HandlerError>>) {
    let (port, mut closed) = fake_streaming_server(frames).await;
    let client = feed_client_with(ClientConfig::plaintext(format!("127.0.0.1:{port}"))).await;
    let items = client.ticks(1000).await.unwrap();
    let code = *within("the close", closed.wait_for(Option::is_some))
        .await
        .unwrap();
    let (seen, error) = stream_error(items).await;
    (code, seen, error)
}

#[tokio::test]
async fn a_server_whose_items_frames_exceed_the_credit_is_closed() {
    // 10 ticks a frame (166 bytes): one frame more than the first window (256 KiB) lets through.
    let frames = (0..(256 * 1024u32).div_ceil(166) + 1)
        .map(|i| move |call_id| ticks_frame(call_id, i * 10..i * 10 + 10))
        .collect();
    let (code, seen, error) = against_fake_frames(frames).await;
    assert_eq!(code, Some(close::PROTOCOL_ERROR));
    assert!(seen <= 10 * (256 * 1024usize).div_ceil(166), "{seen} items");
    match error {
        Some(CallError::Rpc(e)) => assert!(e.to_string().contains("beyond the credit"), "{e}"),
        other => panic!("expected the connection to end, got {other:?}"),
    }
}

#[tokio::test]
async fn a_malformed_items_frame_closes_the_connection() {
    let frames: Vec<Box<dyn Fn(u32) -> Vec<u8> + Send + Sync>> = vec![
        Box::new(|call_id| ticks_frame(call_id, 0..3)),
        // The last item's length runs past the frame's end.
        Box::new(|call_id| {
            let mut frame = ticks_frame(call_id, 3..6);
            frame.pop();
            frame
        }),
    ];
    let (port, mut closed) = fake_streaming_server(frames).await;
    let client = feed_client_with(ClientConfig::plaintext(format!("127.0.0.1:{port}"))).await;
    let items = client.ticks(1000).await.unwrap();
    // Each length is checked as its item is taken: the items before the fault arrive, then the
    // frame's error, and the client closes the connection for it.
    let (seen, error) = stream_error(items).await;
    assert_eq!(seen, 5, "the items before the fault");
    match &error {
        Some(CallError::Rpc(RpcError::Protocol(ProtocolError::Frame(_)))) => {}
        other => panic!("expected the frame's error, got {other:?}"),
    }
    let code = *within("the close", closed.wait_for(Option::is_some))
        .await
        .unwrap();
    assert_eq!(code, Some(close::PROTOCOL_ERROR));
    // Every other call on the connection learns it ended.
    assert!(matches!(
        within("a call after the close", client.ticks(1)).await,
        Err(CallError::Rpc(_))
    ));
}
