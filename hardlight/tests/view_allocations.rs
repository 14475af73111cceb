//! No copy of the payload between the socket and a view: a counting global allocator measures the
//! bytes the server allocates per call, over a real loopback socket, for a 1 MiB argument received
//! as a view and as an owned `Vec<u8>`. The server runs alone on its own thread (a current-thread
//! runtime), and only that thread's allocations are counted: the client's encoding is not. Then
//! the client's side: a view made with `Archived::from_slice` is sent from its own buffer (the one
//! copy of the slice), not copied again into the `CALL` frame.
//!
//! Plaintext, so that TLS's own buffers are not counted (they are the transport's copy, see
//! `hardlight::wire::view`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardlight::*;

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
/// The largest single allocation counted since it was last reset.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// True on the server's thread: only its allocations are counted.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() && new_size > layout.size() {
            // A growth allocates the new size (the old block is freed or extended).
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PAYLOAD: usize = 1 << 20;
const CALLS: usize = 8;

pub mod viewing {
    use super::*;

    #[rpc]
    pub trait Sink {
        async fn ingest(&self, data: Archived<Vec<u8>>) -> HandlerResult<u64>;
        async fn echo(&self, data: Archived<Vec<u8>>) -> HandlerResult<Archived<Vec<u8>>>;
    }

    #[rpc_handler(vis = pub)]
    impl Sink for SinkHandler {
        async fn ingest(&self, data: Archived<Vec<u8>>) -> HandlerResult<u64> {
            Ok(data.iter().map(|b| u64::from(*b)).sum())
        }

        async fn echo(&self, data: Archived<Vec<u8>>) -> HandlerResult<Archived<Vec<u8>>> {
            Ok(data)
        }
    }
}

pub mod owning {
    use super::*;

    #[rpc]
    pub trait Sink {
        async fn ingest(&self, data: Vec<u8>) -> HandlerResult<u64>;
        async fn echo(&self, data: Vec<u8>) -> HandlerResult<Vec<u8>>;
    }

    #[rpc_handler(vis = pub)]
    impl Sink for SinkHandler {
        async fn ingest(&self, data: Vec<u8>) -> HandlerResult<u64> {
            Ok(data.iter().map(|b| u64::from(*b)).sum())
        }

        async fn echo(&self, data: Vec<u8>) -> HandlerResult<Vec<u8>> {
            Ok(data)
        }
    }
}

/// Runs `factory`'s service on its own counted thread; returns its port.
fn serve<H: hardlight::server::Handler>(factory: Factory<H>) -> u16 {
    serve_on_thread(factory, true)
}

/// Runs `factory`'s service on its own thread, counted if `counted`; returns its port.
fn serve_on_thread<H: hardlight::server::Handler>(factory: Factory<H>, counted: bool) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        COUNTED.with(|c| c.set(counted));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let config = ServerConfig::plaintext("127.0.0.1:0").max_message_size(4 << 20);
            let bound = Server::new(config, factory).bind().await.expect("bind");
            tx.send(bound.local_addr().expect("bound").port())
                .expect("the test waits");
            let _ = bound.run().await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the server binds")
}

/// What the measured calls do.
#[derive(Clone, Copy)]
enum Call {
    /// Send 1 MiB, get its sum back.
    Ingest,
    /// Send 1 MiB, get it back.
    Echo,
}

/// The server's bytes allocated per call (the median of `CALLS` calls) for a 1 MiB argument.
async fn per_call(port: u16, call: Call) -> usize {
    // The owned client: both servers host the same service, by fingerprint.
    let client = owning::SinkClient::new(
        ClientConfig::plaintext(format!("127.0.0.1:{port}")).max_message_size(4 << 20),
    );
    tokio::time::timeout(Duration::from_secs(10), client.connect())
        .await
        .expect("connect in time")
        .expect("connect");
    let data = vec![1u8; PAYLOAD];
    // A warm-up call: buffers that a connection keeps are allocated once.
    let sum = client.ingest(data.clone()).await.expect("call");
    assert_eq!(sum, PAYLOAD as u64);
    let mut samples = Vec::new();
    for _ in 0..CALLS {
        let sent = data.clone();
        let before = ALLOCATED.load(Ordering::SeqCst);
        match call {
            Call::Ingest => {
                let sum = tokio::time::timeout(Duration::from_secs(10), client.ingest(sent))
                    .await
                    .expect("a reply in time")
                    .expect("call");
                samples.push(ALLOCATED.load(Ordering::SeqCst) - before);
                assert_eq!(sum, PAYLOAD as u64);
            }
            Call::Echo => {
                let echoed = tokio::time::timeout(Duration::from_secs(10), client.echo(sent))
                    .await
                    .expect("a reply in time")
                    .expect("call");
                samples.push(ALLOCATED.load(Ordering::SeqCst) - before);
                assert!(echoed == data, "the echo came back changed");
            }
        }
    }
    samples.sort_unstable();
    samples[CALLS / 2]
}

#[tokio::test]
async fn a_view_argument_costs_the_server_one_payload_not_two() {
    let views = per_call(serve(factory!(viewing::SinkHandler)), Call::Ingest).await;
    let owned = per_call(serve(factory!(owning::SinkHandler)), Call::Ingest).await;
    eprintln!(
        "server bytes allocated per 1 MiB call: views {views} ({:.2} payloads), owned {owned} \
         ({:.2} payloads)",
        views as f64 / PAYLOAD as f64,
        owned as f64 / PAYLOAD as f64
    );
    // The view path: a constant. The WebSocket message buffer is not even allocated per call:
    // the reader reads into a `BytesMut` whose allocation comes back once the message is dropped.
    assert!(views < PAYLOAD / 16, "views: {views} bytes per call");
    // The owned path: one more payload, the deserialized `Vec<u8>`.
    assert!(
        owned >= views + PAYLOAD - PAYLOAD / 16,
        "owned {owned}, views {views}"
    );
    a_view_reply_is_written_from_the_received_buffer().await;
    a_view_argument_is_sent_from_its_own_buffer();
    small_calls_one_at_a_time_reuse_the_clients_read_buffer();
}

/// Part of the test above (one test at a time: the counter is global): a view echoed back is
/// written from the buffer it arrived in, not copied into a reply frame.
async fn a_view_reply_is_written_from_the_received_buffer() {
    let views = per_call(serve(factory!(viewing::SinkHandler)), Call::Echo).await;
    let owned = per_call(serve(factory!(owning::SinkHandler)), Call::Echo).await;
    eprintln!(
        "server bytes allocated per 1 MiB echo: views {views} ({:.2} payloads), owned {owned} \
         ({:.2} payloads)",
        views as f64 / PAYLOAD as f64,
        owned as f64 / PAYLOAD as f64
    );
    // The view echo: still a constant. The reply's archive is the argument's, written to the
    // socket from where it was read (the frame's headers go in front, in their own write).
    assert!(views < PAYLOAD / 16, "view echo: {views} bytes per call");
    // The owned echo: the deserialized `Vec<u8>` and the encoded reply, two payloads more.
    assert!(
        owned >= views + 2 * PAYLOAD - PAYLOAD / 16,
        "owned echo {owned}, view echo {views}"
    );
}

/// The client's bytes allocated per call (the median of `CALLS` calls) to send a 1 MiB argument
/// made with `Archived::from_slice`, on a counted thread of its own.
fn client_per_call(port: u16) -> usize {
    with_counted_client(port, async |client| {
        let data = vec![1u8; PAYLOAD];
        let mut samples = Vec::new();
        for _ in 0..=CALLS {
            let before = ALLOCATED.load(Ordering::SeqCst);
            let view = Archived::<Vec<u8>>::from_slice(&data).expect("encode");
            let sum = tokio::time::timeout(Duration::from_secs(10), client.ingest(view))
                .await
                .expect("a reply in time")
                .expect("call");
            samples.push(ALLOCATED.load(Ordering::SeqCst) - before);
            assert_eq!(sum, PAYLOAD as u64);
        }
        // The first call grows buffers the connection keeps.
        samples.remove(0);
        samples.sort_unstable();
        samples[CALLS / 2]
    })
}

/// Runs `body` with a connected client of `port` on a counted thread of its own (a current-thread
/// runtime); returns what it returns.
fn with_counted_client<T: Send + 'static>(
    port: u16,
    body: impl AsyncFnOnce(viewing::SinkClient) -> T + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        COUNTED.with(|c| c.set(true));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let client = viewing::SinkClient::new(
                ClientConfig::plaintext(format!("127.0.0.1:{port}")).max_message_size(4 << 20),
            );
            tokio::time::timeout(Duration::from_secs(10), client.connect())
                .await
                .expect("connect in time")
                .expect("connect");
            body(client).await
        })
    })
    .join()
    .expect("the client thread")
}

/// Part of the test above (one test at a time: the counter is global): the client's side.
fn a_view_argument_is_sent_from_its_own_buffer() {
    let port = serve_on_thread(factory!(viewing::SinkHandler), false);
    let client = client_per_call(port);
    eprintln!(
        "client bytes allocated per 1 MiB call: {client} ({:.2} payloads)",
        client as f64 / PAYLOAD as f64
    );
    // The view's own buffer (the one copy of the slice), and no second one for the `CALL` frame:
    // the view keeps room for the frame's header before its archive.
    assert!(
        client < PAYLOAD + PAYLOAD / 2,
        "client: {client} bytes per call"
    );
}

/// Part of the test above: a client making small calls one at a time reads every reply into the
/// same buffer. Its reader grows the buffer only when the room left is used up, by which time the
/// callers have let go of the replies cut from it, so the allocation comes back instead of a new
/// one being made every few hundred calls.
fn small_calls_one_at_a_time_reuse_the_clients_read_buffer() {
    let port = serve_on_thread(factory!(viewing::SinkHandler), false);
    let largest = with_counted_client(port, async |client| {
        let data = [3u8; 16];
        let call = async || {
            let view = Archived::<Vec<u8>>::from_slice(&data).expect("encode");
            let sum = tokio::time::timeout(Duration::from_secs(10), client.ingest(view))
                .await
                .expect("a reply in time")
                .expect("call");
            assert_eq!(sum, 48);
        };
        // The first calls grow what the connection keeps (the writer's buffer) and use up the
        // first read buffer, which also holds the server's `HELLO` (kept by the session).
        for _ in 0..1000 {
            call().await;
        }
        LARGEST.store(0, Ordering::SeqCst);
        // Replies of a few dozen bytes: 2,000 of them fill the 16 KiB read buffer several times.
        for _ in 0..2000 {
            call().await;
        }
        LARGEST.load(Ordering::SeqCst)
    });
    eprintln!("largest client allocation over 2,000 small calls: {largest} bytes");
    assert!(
        largest < 4096,
        "a {largest}-byte allocation: the client took a new read buffer"
    );
}

/// Not about allocations, but about views as arguments: a view's archive becomes the `CALL` frame
/// as it lies, and its size is checked against the server's limit like any other argument's.
#[tokio::test]
async fn a_view_argument_over_the_servers_limit_is_refused_locally() {
    // The server takes messages of up to 4 MiB; the client would take 8.
    let port = serve_on_thread(factory!(viewing::SinkHandler), false);
    let client = viewing::SinkClient::new(
        ClientConfig::plaintext(format!("127.0.0.1:{port}")).max_message_size(8 << 20),
    );
    tokio::time::timeout(Duration::from_secs(10), client.connect())
        .await
        .expect("connect in time")
        .expect("connect");
    let view = Archived::<Vec<u8>>::from_slice(&vec![1u8; 5 << 20]).expect("encode");
    match tokio::time::timeout(Duration::from_secs(10), client.ingest(view))
        .await
        .expect("refused in time")
    {
        Err(CallError::Rpc(RpcError::LimitExceeded(why))) => {
            assert!(why.contains(&(4 << 20).to_string()), "{why}");
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    // Nothing was sent: the connection is still usable.
    let view = Archived::<Vec<u8>>::from_slice(&[2u8; 10]).expect("encode");
    let sum = tokio::time::timeout(Duration::from_secs(10), client.ingest(view))
        .await
        .expect("a reply in time")
        .expect("call");
    assert_eq!(sum, 20);
}
