//! What a peer can make the server hold in memory: messages it starts and never finishes, and
//! output it never reads. Each test measures the server's resident memory (it runs in this
//! process) against a baseline taken before the peers connect, so the tests run one at a time.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::encode_call;
use hardlight::wire::close;
use hardlight::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// One test at a time: each measures the whole process's memory.
static ALONE: Mutex<()> = Mutex::const_new(());

const MIB: u64 = 1 << 20;

/// The process's resident memory now, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Samples resident memory every millisecond until dropped; reports the peak above the baseline
/// taken when it started.
struct PeakMemory {
    baseline: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakMemory {
    fn start() -> Self {
        let baseline = resident();
        let peak = Arc::new(AtomicU64::new(baseline));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(resident(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self {
            baseline,
            peak,
            stop,
        }
    }

    /// The highest resident memory seen above the baseline, in MiB.
    fn growth_mib(&self) -> u64 {
        self.peak
            .load(Ordering::Relaxed)
            .max(resident())
            .saturating_sub(self.baseline)
            / MIB
    }
}

impl Drop for PeakMemory {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A client's masked WebSocket frame header for `len` payload bytes (the payload is then sent
/// as is: with a zero masking key, masking changes nothing).
fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut header = vec![(u8::from(fin) << 7) | opcode, 0x80 | 127];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&[0; 4]);
    header
}

/// A pong frame, as a client sends it.
const PONG: [u8; 6] = [0x8a, 0x80, 0, 0, 0, 0];

/// How the server ended a peer's connection.
#[derive(Debug)]
enum Ended {
    /// With this close code and reason, this long after the peer's first byte.
    Closed(u16, String, Duration),
    /// With a reset: it had stopped reading the peer, which was still sending.
    Reset,
}

/// Starts a binary message of `declared` bytes, sends `sent` of them, then only pongs (every
/// 100 ms, to stay well clear of any idle timeout); returns how the server ended the connection.
async fn hold_an_unfinished_message(
    mut ws: WebSocketStream<TcpStream>,
    declared: u64,
    sent: Arc<Vec<u8>>,
) -> Ended {
    let started = Instant::now();
    // The server may close before all of it is read (over its budget): then writing fails.
    let header = frame_header(false, 0x2, declared);
    if ws.get_mut().write_all(&header).await.is_ok() {
        let _ = ws.get_mut().write_all(&sent).await;
    }
    let mut pongs = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Ended::Closed(frame.code.into(), frame.reason.to_string(), started.elapsed());
                }
                Some(Ok(_)) => {}
                // Data it had not read makes the server's end reset the connection, which may
                // discard the close frame on its way.
                Some(Err(tokio_tungstenite::tungstenite::Error::Io(e)))
                    if e.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    return Ended::Reset;
                }
                Some(Err(tokio_tungstenite::tungstenite::Error::Protocol(
                    tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ))) | None => return Ended::Reset,
                other => panic!("expected a close frame, got {other:?}"),
            },
            _ = pongs.tick() => {
                let _ = ws.get_mut().write_all(&PONG).await;
            }
        }
    }
}

#[tokio::test]
async fn an_unfinished_message_kept_alive_with_pongs_is_closed_after_the_message_timeout() {
    let _alone = ALONE.lock().await;
    let timeout = Duration::from_millis(800);
    let server =
        TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0").message_timeout(timeout))
            .await;
    let sent = Arc::new(vec![0u8; MIB as usize]);
    let mut peers = Vec::new();
    for _ in 0..4 {
        let (ws, _) = raw_hardlight_plain(server.port).await;
        peers.push(tokio::spawn(hold_an_unfinished_message(
            ws,
            4 * MIB,
            sent.clone(),
        )));
    }
    for peer in peers {
        let Ended::Closed(code, reason, after) = within("the unfinished message's close", peer)
            .await
            .expect("peer task")
        else {
            panic!("a peer that stopped sending must get the close frame");
        };
        assert_eq!(code, close::POLICY_VIOLATION, "{reason}");
        assert!(reason.contains("not completed within"), "{reason}");
        assert!(
            after >= timeout,
            "closed after {after:?}, before the timeout"
        );
    }
    // A well-behaved client is not affected, and nothing stays counted.
    let client = server.client().await;
    assert_eq!(client.echo(vec![1; 100_000]).await.unwrap().len(), 100_000);
    client.disconnect().await;
    within(
        "every connection to end",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    assert_eq!(server.stats.partial_message_bytes(), 0);
}

#[tokio::test]
async fn unfinished_messages_of_many_peers_stay_within_the_servers_budget() {
    let _alone = ALONE.lock().await;
    let budget = 16 * MIB;
    let server = TestServer::with_config(
        ServerConfig::plaintext("127.0.0.1:0")
            .message_timeout(Duration::from_secs(2))
            .max_partial_bytes(budget),
    )
    .await;
    let sent = Arc::new(vec![0u8; 2 * MIB as usize]);
    let memory = PeakMemory::start();
    // Watches the server's count while the peers hold their messages.
    let stats = server.stats.clone();
    let counted_peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let peak = counted_peak.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            loop {
                tick.tick().await;
                peak.fetch_max(stats.partial_message_bytes(), Ordering::Relaxed);
            }
        })
    };
    let mut peers = Vec::new();
    for _ in 0..40 {
        let (ws, _) = raw_hardlight_plain(server.port).await;
        peers.push(tokio::spawn(hold_an_unfinished_message(
            ws,
            4 * MIB,
            sent.clone(),
        )));
    }
    // A peer over the budget may see a reset rather than the close frame: the server reads
    // nothing more from it, and it was still sending.
    let (mut over_budget, mut timed_out) = (0, 0);
    for peer in peers {
        match within("the unfinished message's close", peer)
            .await
            .expect("peer task")
        {
            Ended::Closed(code, reason, _) => {
                assert_eq!(code, close::POLICY_VIOLATION, "{reason}");
                if reason.contains("budget") {
                    over_budget += 1;
                } else {
                    timed_out += 1;
                }
            }
            Ended::Reset => over_budget += 1,
        }
    }
    watcher.abort();
    let growth = memory.growth_mib();
    let counted = counted_peak.load(Ordering::Relaxed);
    eprintln!(
        "40 peers x 2 MiB unfinished: {over_budget} closed over the budget, {timed_out} after the \
         timeout; server counted at most {} KiB; resident memory grew by at most {growth} MiB",
        counted / 1024
    );
    assert!(over_budget > 0, "40 x 2 MiB must go over a 16 MiB budget");
    // Each connection may overshoot by one read (4 KiB) before it is stopped.
    assert!(counted <= budget + 40 * 4096, "counted {counted} bytes");
    assert!(growth < 64, "resident memory grew by {growth} MiB");
    within(
        "every connection to end",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    assert_eq!(server.stats.partial_message_bytes(), 0);
}

#[tokio::test]
async fn a_client_that_never_reads_large_replies_is_held_back_with_bounded_memory() {
    let _alone = ALONE.lock().await;
    // Default output limits; a short idle timeout ends the held-back connection.
    let server = TestServer::with_config(
        ServerConfig::plaintext("127.0.0.1:0")
            .keepalive(Duration::from_millis(200), Duration::from_secs(2)),
    )
    .await;
    let (mut ws, _) = raw_hardlight_plain(server.port).await;
    let memory = PeakMemory::start();
    // 300 calls for 1 MiB each, pipelined (at most 256 in flight, each finishes at once), and
    // never a read.
    for id in 0..300u32 {
        let call = encode_call(id, method::BLOB, &(MIB as u32,)).expect("encode");
        ws.get_mut()
            .write_all(&websocket_frame(&call))
            .await
            .expect("send");
    }
    within(
        "the held-back connection to end at its idle timeout",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    let growth = memory.growth_mib();
    eprintln!("300 unread 1 MiB replies: resident memory grew by at most {growth} MiB");
    // 16 MiB of output at most (8 MiB before holding back, plus a reply), one frame in
    // tungstenite's buffer, and the replies being made.
    assert!(growth < 64, "resident memory grew by {growth} MiB");
}

#[tokio::test]
async fn events_for_a_client_that_never_reads_close_it_with_4008_within_the_byte_limit() {
    let _alone = ALONE.lock().await;
    let mut server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let mut notifier = server.notifier.take().expect("notifier");
    let (mut ws, _) = raw_hardlight_plain(server.port).await;
    let join = encode_call(1, method::JOIN, &("big".to_owned(),)).expect("encode");
    ws.get_mut()
        .write_all(&websocket_frame(&join))
        .await
        .expect("send");
    let topic = Topic::from("big");
    assert_eq!(
        within("the subscription", notifier.recv()).await,
        Some(TopicNotification::Created(topic.clone()))
    );
    let memory = PeakMemory::start();
    // 64 KiB events until the subscriber is dropped as a slow consumer.
    let event = TestEvent::Text("x".repeat(64 << 10));
    let mut emitted = 0;
    while within("an emit", server.emitter.emit(&topic, event.clone()))
        .await
        .expect("emit")
        > 0
    {
        emitted += 1;
        assert!(emitted < 4000, "never closed as a slow consumer");
    }
    let growth = memory.growth_mib();
    eprintln!("{emitted} events of 64 KiB before 4008; resident memory grew by {growth} MiB");
    let (code, reason) = loop {
        match within("the close frame", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => break (frame.code, frame.reason),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(code), close::SLOW_CONSUMER, "{reason}");
    // The default limit is 16 MiB (the old frame limit alone let 64 MiB of these wait).
    assert!(growth < 40, "resident memory grew by {growth} MiB");
}

/// `payload` as one masked binary frame (zero masking key).
fn websocket_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = frame_header(true, 0x2, payload.len() as u64);
    frame.extend_from_slice(payload);
    frame
}
