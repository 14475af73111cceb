//! Streamed arguments (client streaming) and bidirectional methods over real sockets: items in
//! order within the server's credit, a handler that answers before the argument ends, ends and
//! errors on both sides, cancellation, connection loss, and raw peers that break the flow control.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use futures_util::{StreamExt, stream};
use hardlight::__private::ServiceSchema;
use hardlight::__private::wire::frame::{
    ReplyStatus, STREAM_WINDOW, ServerFrame, decode_server, encode_call, encode_end, item_header,
};
use hardlight::wire::close;
use hardlight::*;
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub label: String,
    pub count: u32,
    pub total: u64,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub seq: u32,
    pub text: String,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerError {
    TooBig { at: u32, value: u64 },
}

#[connection_state]
pub struct LedgerState {
    /// Set by `echo` to the number of lines it read, before it answers each.
    pub read: u32,
}

#[rpc(state = LedgerState)]
pub trait Ledger {
    /// The count and total of `values`, labelled.
    async fn sum(&self, label: String, values: Streaming<u64>) -> HandlerResult<Summary>;
    /// The first `n` values; the rest of the argument is not read.
    async fn first(&self, n: u32, values: Streaming<u64>) -> HandlerResult<Vec<u64>>;
    /// Fails with `TooBig` at the first value over `limit`.
    async fn checked(&self, limit: u64, values: Streaming<u64>) -> Result<u64, LedgerError>;
    /// Reads nothing until the test releases it, then the byte count of every chunk.
    async fn held(&self, chunks: Streaming<Vec<u8>>) -> HandlerResult<u64>;
    /// Bidirectional: each line back, upper-cased, after a state change that counts it.
    async fn echo(&self, lines: Streaming<Line>) -> HandlerResult<Streaming<Line>>;
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
    /// Never answers.
    async fn parked(&self) -> HandlerResult<()>;
}

/// What the test sees of the handlers.
#[derive(Default)]
pub struct Probe {
    /// Lets `held` read.
    release: Notify,
    /// Handlers' arguments alive (taken and not yet dropped).
    alive: watch::Sender<usize>,
}

impl Probe {
    async fn alive_is(&self, n: usize) {
        let mut rx = self.alive.subscribe();
        within("the handlers' arguments", rx.wait_for(|a| *a == n))
            .await
            .unwrap();
    }
}

/// Counts a handler's argument alive until it is dropped.
struct Alive<S> {
    probe: Arc<Probe>,
    inner: S,
}

impl<S> Alive<S> {
    fn new(probe: Arc<Probe>, inner: S) -> Self {
        probe.alive.send_modify(|a| *a += 1);
        Self { probe, inner }
    }
}

impl<S> Drop for Alive<S> {
    fn drop(&mut self) {
        self.probe.alive.send_modify(|a| *a -= 1);
    }
}

fn failed<E>(e: CallError<E>) -> HandlerError
where
    CallError<E>: std::fmt::Display,
{
    HandlerError::from(e.to_string())
}

#[rpc_handler(context = Probe)]
impl Ledger for LedgerHandler {
    async fn sum(&self, label: String, values: Streaming<u64>) -> HandlerResult<Summary> {
        let mut values = Alive::new(self.context.clone(), values);
        let (mut count, mut total) = (0, 0);
        while let Some(value) = values.inner.next().await {
            count += 1;
            total += value.map_err(failed)?;
        }
        Ok(Summary {
            label,
            count,
            total,
        })
    }

    async fn first(&self, n: u32, values: Streaming<u64>) -> HandlerResult<Vec<u64>> {
        let mut values = Alive::new(self.context.clone(), values);
        let mut got = Vec::new();
        while got.len() < n as usize {
            match values.inner.next().await {
                Some(value) => got.push(value.map_err(failed)?),
                None => break,
            }
        }
        Ok(got)
    }

    async fn checked(&self, limit: u64, mut values: Streaming<u64>) -> Result<u64, LedgerError> {
        let mut total = 0;
        let mut at = 0;
        while let Some(Ok(value)) = values.next().await {
            if value > limit {
                return Err(LedgerError::TooBig { at, value });
            }
            total += value;
            at += 1;
        }
        Ok(total)
    }

    async fn held(&self, chunks: Streaming<Vec<u8>>) -> HandlerResult<u64> {
        let mut chunks = Alive::new(self.context.clone(), chunks);
        self.context.release.notified().await;
        let mut bytes = 0;
        while let Some(chunk) = chunks.inner.next().await {
            bytes += chunk.map_err(failed)?.len() as u64;
        }
        Ok(bytes)
    }

    async fn echo(&self, lines: Streaming<Line>) -> HandlerResult<Streaming<Line>> {
        let state = self.state.clone();
        let lines = Alive::new(self.context.clone(), lines);
        let replies = stream::unfold(lines, move |mut lines| {
            let state = state.clone();
            async move {
                let line = match lines.inner.next().await? {
                    Ok(line) => line,
                    Err(_) => return None,
                };
                state.write().await.read = line.seq + 1;
                let reply = Line {
                    seq: line.seq,
                    text: line.text.to_uppercase(),
                };
                Some((reply, lines))
            }
        });
        Ok(Streaming::new(replies))
    }

    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        Ok(a + b)
    }

    async fn parked(&self) -> HandlerResult<()> {
        std::future::pending().await
    }
}

type LedgerServer = Served<Arc<Probe>>;

async fn ledger_server(config: ServerConfig) -> LedgerServer {
    let probe = Arc::new(Probe::default());
    let server = Server::new(config, factory!(LedgerHandler, probe.clone()));
    Served::bind(server, probe).await
}

async fn ledger_client_with(config: ClientConfig) -> LedgerClient {
    let client = LedgerClient::new(config);
    within("connect", client.connect()).await.expect("connect");
    client
}

async fn ledger() -> (LedgerServer, LedgerClient) {
    let server = ledger_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = ledger_client_with(server.client_config()).await;
    (server, client)
}

/// A client-side stream that counts the items taken from it, and whether it is still alive.
struct Counted {
    taken: Arc<AtomicU64>,
    alive: watch::Sender<bool>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.send_replace(false);
    }
}

/// `count` values (`None`: for ever), counted as they are taken; the receiver says when the
/// stream is dropped.
fn counted_values(count: Option<u64>) -> (Streaming<u64>, Arc<AtomicU64>, watch::Receiver<bool>) {
    let taken = Arc::new(AtomicU64::new(0));
    let (alive, dropped) = watch::channel(true);
    let state = Counted {
        taken: taken.clone(),
        alive,
    };
    let values = stream::unfold(state, move |state| async move {
        let n = state.taken.fetch_add(1, Ordering::SeqCst);
        if count.is_some_and(|count| n >= count) {
            state.taken.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some((n, state))
    });
    (Streaming::new(values), taken, dropped)
}

async fn dropped(mut alive: watch::Receiver<bool>) {
    within("the client's stream to be dropped", alive.wait_for(|a| !*a))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_streamed_argument_arrives_whole_and_in_order() {
    let (server, client) = ledger().await;
    // Many times the window (each frame is 14 bytes): the server grants credit again and again.
    let n = 100_000u64;
    let (values, _, alive) = counted_values(Some(n));
    let summary = within("the sum", client.sum("all".into(), values))
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            label: "all".into(),
            count: n as u32,
            total: n * (n - 1) / 2
        }
    );
    dropped(alive).await;
    // An empty argument: END alone.
    let summary = client
        .sum("none".into(), Streaming::iter(Vec::<u64>::new()))
        .await
        .unwrap();
    assert_eq!(summary.count, 0);
    server.ctx.alive_is(0).await;
}

#[tokio::test]
async fn streamed_arguments_work_compressed() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").allow_compression(true);
    let server = ledger_server(config).await;
    let client =
        ledger_client_with(server.client_config().compression(Compression::default())).await;
    let (values, _, _) = counted_values(Some(5000));
    let summary = client.sum("z".into(), values).await.unwrap();
    assert_eq!((summary.count, summary.total), (5000, 5000 * 4999 / 2));
    // Items large enough to be compressed, both ways.
    let lines = (0..50).map(|seq| Line {
        seq,
        text: "abc".repeat(500),
    });
    let replies: Vec<Line> = client
        .echo(Streaming::iter(lines))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(replies.len(), 50);
    assert!(replies.iter().all(|line| line.text == "ABC".repeat(500)));
}

#[tokio::test]
async fn a_handler_that_answers_early_stops_the_argument() {
    let (server, client) = ledger().await;
    // An endless argument: the handler reads three values and answers.
    let (values, _, alive) = counted_values(None);
    let got = within("the reply", client.first(3, values)).await.unwrap();
    assert_eq!(got, [0, 1, 2]);
    // The reply stops the client's stream, and the handler's argument is gone.
    dropped(alive).await;
    server.ctx.alive_is(0).await;
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
}

#[tokio::test]
async fn a_handler_error_ends_the_call_with_its_type() {
    let (_server, client) = ledger().await;
    let values = Streaming::iter([1u64, 2, 3, 500, 4]);
    match client.checked(100, values).await {
        Err(CallError::Handler(LedgerError::TooBig { at: 3, value: 500 })) => {}
        other => panic!("expected TooBig, got {other:?}"),
    }
    assert_eq!(
        client
            .checked(100, Streaming::iter([1u64, 2]))
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn bidirectional_items_flow_both_ways_while_the_call_runs() {
    let (server, client) = ledger().await;
    let (lines, receiver) = mpsc::channel(1);
    let mut replies = within(
        "the call to open",
        client.echo(Streaming::from_receiver(receiver)),
    )
    .await
    .unwrap();
    // One at a time: each reply comes before the next line is sent, so the argument cannot be
    // sent whole first.
    for seq in 0..20 {
        let text = format!("line {seq}");
        lines.send(Line { seq, text }).await.unwrap();
        let reply = within("a reply", replies.next()).await.unwrap().unwrap();
        assert_eq!(reply.seq, seq);
        assert_eq!(reply.text, format!("LINE {seq}"));
        // The state change made before the reply is applied before it.
        assert_eq!(client.state().await.unwrap().read, seq + 1);
    }
    // Ending the argument ends the handler's stream, and so the reply stream.
    drop(lines);
    assert!(within("the end", replies.next()).await.is_none());
    server.ctx.alive_is(0).await;
}

#[tokio::test]
async fn dropping_a_bidirectional_call_cancels_both_directions() {
    let (server, client) = ledger().await;
    let (values, _, _) = counted_values(None);
    let lines = values.map(|n| {
        n.map(|n| Line {
            seq: n as u32,
            text: String::new(),
        })
    });
    let mut replies = client.echo(Streaming::from_stream(lines)).await.unwrap();
    for _ in 0..10 {
        within("a reply", replies.next()).await.unwrap().unwrap();
    }
    drop(replies);
    // The handler's argument and stream are dropped on the server.
    server.ctx.alive_is(0).await;
    assert_eq!(client.add(2, 2).await.unwrap(), 4);
}

#[tokio::test]
async fn a_server_that_does_not_read_stops_the_client_within_the_window() {
    let (server, client) = ledger().await;
    let chunk = vec![7u8; 1000];
    // Each ITEM frame as the client sends it.
    let frame_len = item(0, &chunk).len();
    let taken = Arc::new(AtomicU64::new(0));
    let counter = taken.clone();
    let chunks = stream::repeat(chunk).map(move |chunk| {
        counter.fetch_add(1, Ordering::SeqCst);
        chunk
    });
    let total = 2_000u64;
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .held(Streaming::new(chunks.take(total as usize)))
                .await
        }
    });
    // Sends while any credit is left: the window's worth (the last overdraws it), and one more
    // taken and held for credit.
    let sent = u64::from(STREAM_WINDOW).div_ceil(frame_len as u64);
    let expected = sent + 1;
    let mut waited = 0;
    while taken.load(Ordering::SeqCst) < expected {
        within("a round trip", client.add(0, 0)).await.unwrap();
        waited += 1;
        assert!(waited < 100_000, "the client did not send the window");
    }
    // Other calls go on, and the producer stays stopped.
    for i in 0..100 {
        assert_eq!(client.add(i, 1).await.unwrap(), i + 1);
    }
    assert_eq!(taken.load(Ordering::SeqCst), expected);
    // Released: everything arrives.
    server.ctx.release.notify_one();
    let bytes = within("the call", call).await.unwrap().unwrap();
    assert_eq!(bytes, total * 1000);
}

#[tokio::test]
async fn a_failing_argument_fails_the_call_and_stops_the_handler() {
    let (server, client) = ledger().await;
    let values = stream::iter(0..5u64).map(|n| {
        if n == 3 {
            Err(CallError::Rpc(RpcError::Internal(
                "the source broke".into(),
            )))
        } else {
            Ok(n)
        }
    });
    match client.sum("x".into(), Streaming::from_stream(values)).await {
        Err(CallError::Rpc(RpcError::Cancelled(why))) => {
            assert!(why.contains("the source broke"), "{why}")
        }
        other => panic!("expected the argument's failure, got {other:?}"),
    }
    server.ctx.alive_is(0).await;
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn an_item_over_the_size_limit_fails_the_call() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(4096);
    let server = ledger_server(config).await;
    let client = ledger_client_with(server.client_config()).await;
    let chunks = Streaming::iter([vec![1u8; 100], vec![2u8; 10_000]]);
    match client.held(chunks).await {
        Err(CallError::Rpc(RpcError::LimitExceeded(why))) => assert!(why.contains("4096"), "{why}"),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    server.ctx.alive_is(0).await;
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn dropping_a_client_streaming_call_cancels_it() {
    let (server, client) = ledger().await;
    let (values, _, alive) = counted_values(None);
    let call = tokio::spawn({
        let client = client.clone();
        // `held` never reads until released: the call waits.
        async move {
            let chunks = values.map(|n| n.map(|_| vec![0u8; 10]));
            let _ = client.held(Streaming::from_stream(chunks)).await;
        }
    });
    server.ctx.alive_is(1).await;
    call.abort();
    let _ = call.await;
    dropped(alive).await;
    server.ctx.alive_is(0).await;
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_connection_lost_mid_argument_fails_the_call() {
    let (server, client) = ledger().await;
    let (values, _, alive) = counted_values(None);
    let chunks = values.map(|n| n.map(|_| vec![0u8; 10]));
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.held(Streaming::from_stream(chunks)).await }
    });
    server.ctx.alive_is(1).await;
    drop(server);
    match within("the call to fail", call).await.unwrap() {
        Err(CallError::Rpc(_)) => {}
        other => panic!("expected a failure, got {other:?}"),
    }
    dropped(alive).await;
}

const SUM: u16 = method_index(<dyn Ledger as ServiceSchema>::METHODS, "sum");
const HELD: u16 = method_index(<dyn Ledger as ServiceSchema>::METHODS, "held");
const ADD: u16 = method_index(<dyn Ledger as ServiceSchema>::METHODS, "add");
const PARKED: u16 = method_index(<dyn Ledger as ServiceSchema>::METHODS, "parked");

/// The next frame a raw peer receives.
async fn next_frame(ws: &mut RawPeer) -> Vec<u8> {
    match within("a frame", ws.next()).await {
        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// A client's `ITEM` frame of call `call_id` carrying `value`.
fn item<T: Codable>(call_id: u32, value: &T) -> Vec<u8> {
    value.encode_into(item_header(call_id, 16)).unwrap()
}

#[tokio::test]
async fn a_raw_peer_streams_an_argument_within_the_credit() {
    let server = ledger_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Ledger>(), None).await;
    send_binary(&mut ws, encode_call(1, SUM, &("raw".to_owned(),)).unwrap()).await;
    for value in [5u64, 6, 7] {
        send_binary(&mut ws, item(1, &value)).await;
    }
    // Items for a call that does not exist (or has ended) are dropped.
    send_binary(&mut ws, item(99, &1u64)).await;
    send_binary(&mut ws, encode_end(1)).await;
    match decode_server(&next_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 1,
            status: ReplyStatus::Ok,
            body,
        } => {
            let summary = Summary::decode(body).unwrap();
            assert_eq!((summary.count, summary.total), (3, 18));
        }
        other => panic!("expected the sum, got {other:?}"),
    }
    // The server grants back what its handler read: a long argument needs its CREDIT frames.
    send_binary(&mut ws, encode_call(2, SUM, &("long".to_owned(),)).unwrap()).await;
    let frame = item(2, &1u64);
    let mut budget = i64::from(STREAM_WINDOW);
    let mut sent = 0u64;
    while sent < 60_000 {
        if budget <= 0 {
            match decode_server(&next_frame(&mut ws).await).unwrap() {
                ServerFrame::Credit { call_id: 2, bytes } => budget += i64::from(bytes),
                other => panic!("expected CREDIT, got {other:?}"),
            }
            continue;
        }
        send_binary(&mut ws, frame.clone()).await;
        budget -= frame.len() as i64;
        sent += 1;
    }
    send_binary(&mut ws, encode_end(2)).await;
    loop {
        match decode_server(&next_frame(&mut ws).await).unwrap() {
            ServerFrame::Credit { call_id: 2, .. } => {}
            ServerFrame::Reply {
                call_id: 2,
                status: ReplyStatus::Ok,
                body,
            } => {
                assert_eq!(Summary::decode(body).unwrap().count, 60_000);
                break;
            }
            other => panic!("expected the sum, got {other:?}"),
        }
    }
}

/// Opens a raw connection and calls `held` (id 1), whose handler reads nothing.
async fn raw_held(server: &LedgerServer) -> RawPeer {
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Ledger>(), None).await;
    send_binary(&mut ws, encode_call(1, HELD, &()).unwrap()).await;
    ws
}

#[tokio::test]
async fn a_raw_peer_that_sends_beyond_the_credit_is_closed() {
    let server = ledger_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let mut ws = raw_held(&server).await;
    let frame = item(1, &vec![0u8; 1000]);
    let fit = u64::from(STREAM_WINDOW).div_ceil(frame.len() as u64);
    // The window's worth (the last item overdraws it) is taken; one more is a violation.
    for _ in 0..=fit {
        send_binary(&mut ws, frame.clone()).await;
    }
    let (code, why) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR, "{why}");
    assert!(why.contains("credit"), "{why}");
}

#[tokio::test]
async fn a_raw_peer_that_misuses_argument_frames_is_closed() {
    let server = ledger_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    // END twice.
    let mut ws = raw_held(&server).await;
    send_binary(&mut ws, encode_end(1)).await;
    send_binary(&mut ws, encode_end(1)).await;
    let (code, why) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR, "{why}");
    assert!(why.contains("second END"), "{why}");
    // An item after END.
    let mut ws = raw_held(&server).await;
    send_binary(&mut ws, encode_end(1)).await;
    send_binary(&mut ws, item(1, &vec![1u8])).await;
    let (code, why) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR, "{why}");
    assert!(why.contains("after END"), "{why}");
    // An item for a running call whose method takes no streamed argument.
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Ledger>(), None).await;
    send_binary(&mut ws, encode_call(3, PARKED, &()).unwrap()).await;
    send_binary(&mut ws, item(3, &1u64)).await;
    let (code, why) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR, "{why}");
    assert!(why.contains("takes no streamed argument"), "{why}");
    // An item for a call that has ended crossed its reply: dropped, the connection goes on.
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Ledger>(), None).await;
    send_binary(&mut ws, encode_call(5, ADD, &(1u32, 1u32)).unwrap()).await;
    assert!(matches!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Reply { call_id: 5, .. }
    ));
    send_binary(&mut ws, item(5, &1u64)).await;
    send_binary(&mut ws, encode_end(5)).await;
    send_binary(&mut ws, encode_call(6, ADD, &(2u32, 2u32)).unwrap()).await;
    assert!(matches!(
        decode_server(&next_frame(&mut ws).await).unwrap(),
        ServerFrame::Reply {
            call_id: 6,
            status: ReplyStatus::Ok,
            ..
        }
    ));
}

#[tokio::test]
async fn an_item_that_fails_validation_is_the_handlers_to_see() {
    let server = ledger_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Ledger>(), None).await;
    send_binary(&mut ws, encode_call(1, SUM, &("bad".to_owned(),)).unwrap()).await;
    // Three bytes are no archived u64.
    let mut bad = item_header(1, 3);
    bad.extend_from_slice(&[1, 2, 3]);
    send_binary(&mut ws, bad).await;
    match decode_server(&next_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 1,
            status: ReplyStatus::HandlerError,
            body,
        } => {
            let error = HandlerError::decode(body).unwrap();
            assert!(error.to_string().contains("not a valid archive"), "{error}");
        }
        other => panic!("expected the handler's error, got {other:?}"),
    }
}

#[test]
fn a_streamed_argument_is_written_in_the_schema_text() {
    let text = hardlight::schema::<dyn Ledger>();
    assert!(
        text.contains(
            "fn sum(String,Streaming<u64,HandlerError>) -> Result<Summary,HandlerError>\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("fn echo(Streaming<Line,HandlerError>) -> Streaming<Line,HandlerError>\n"),
        "{text}"
    );
}
