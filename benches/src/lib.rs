//! # hardlight-benches
//!
//! hardlight side by side with gRPC ([tonic](https://docs.rs/tonic) 0.14) and with a bare WebSocket
//! echo, measured in one process, one system after another.
//!
//! ```text
//! cargo run --release -p hardlight-benches --bin compare            # the full run: a few minutes
//! cargo run --release -p hardlight-benches --bin compare -- --quick # every row, small counts: < 1 min
//! cargo run --release -p hardlight-benches --bin compare -- --spread   # threads on every CPU
//! cargo run --release -p hardlight-benches --bin compare -- --workers 2
//! cargo run --release -p hardlight-benches --bin compare -- --only streams   # some groups only
//! cargo run --release -p hardlight-benches --bin compare -- --only metrics   # what metrics cost
//! cargo run --release -p hardlight-benches --bin compare -- --only connections,scaling,fanout
//! cargo run --release -p hardlight-benches --bin compare -- --only nats      # across servers
//! cargo run --release -p hardlight-benches --bin compare -- --only throughput --plot benches/throughput.svg
//! cargo bench -p hardlight-benches --bench codec                    # frame encode/decode vs prost
//! ```
//!
//! ## Runtime shape
//! Every system runs under the same shape: one tokio multi-thread runtime for the servers and a
//! separate one for the clients, each with the same number of worker threads (`--workers N`,
//! default 1). The output header says which shape a run used.
//!
//! By default the whole process is pinned to one CPU (the first it may use), so client and server
//! threads take turns on it. At one call at a time that makes latency the systems' own CPU work:
//! spread over several CPUs, every call wakes an idle CPU, which on a virtual machine costs tens of
//! microseconds (a hypervisor round trip), varies run to run, and is the same for every system, so it
//! drowns the differences between them. `--spread` lets the OS place threads on every CPU: the
//! figures a deployment with idle cores sees. Throughput with many calls in flight keeps the CPUs
//! busy, so it is meaningful either way.
//!
//! ## Systems
//! | row | what |
//! | --- | --- |
//! | `hardlight` | hardlight over plain WebSocket (`ws://`) |
//! | `hardlight_tls` | hardlight over TLS: a self-signed certificate, the client pins its fingerprint |
//! | `hardlight_tls_deflate` | as above with `Compression::default()` (deflate level 6); hardlight compresses only frames of 512 B or more, so the 64 B figures are uncompressed |
//! | `tonic` | gRPC, HTTP/2 without TLS (h2c), tonic's defaults |
//! | `tonic_tls` | gRPC over TLS (rustls with ring), the same certificate, the client trusting it as its root |
//! | `raw_ws` | tokio-tungstenite echoing binary messages: the floor for any protocol over one WebSocket |
//!
//! The metrics table (group `metrics`) has rows of its own, all hardlight over plain WebSocket:
//!
//! | row | what |
//! | --- | --- |
//! | `hardlight_metrics_off` | `ServerConfig::metrics(false)` and `ClientConfig::metrics(false)`: no handles, no clock read per call |
//! | `hardlight` | metrics on (the default) and no recorder installed: every handle a no-op |
//! | `hardlight_prometheus` | metrics on with `metrics-exporter-prometheus`'s recorder installed globally (`install_recorder`, no HTTP listener; its upkeep runs between measurements) |
//!
//! Every service is the same unary echo, bytes in and the same bytes out (`Vec<u8>` on both sides:
//! hardlight's `echo(payload: Vec<u8>)`, prost's default `bytes` field), with the same payloads.
//!
//! ## Figures
//! - **Unary latency**: p50 and p99 in microseconds (hdrhistogram), one call at a time, for payloads
//!   of 64 B, 1 KiB and 64 KiB.
//! - **Large messages**: the same latency for 64 KiB and 1 MiB payloads, in a table of its own with
//!   `hardlight` (owned `Vec<u8>`), `hardlight_views` (the echo declared with
//!   `Archived<Vec<u8>>`: read in place on both ends, the client encoding from the slice with
//!   `Archived::from_slice`), `tonic` and `raw_ws`.
//! - **Throughput**: calls per second with 1, 16 and 256 calls of 64 B in flight on *one* connection
//!   (one tonic `Channel`). For hardlight and tonic that is N tasks calling concurrently on one
//!   client; raw ws pipelines N messages on its socket.
//! - **Stream**: items per second on one server stream of 1,000,000 items of 64 B, from the call
//!   to the last item, the median of five such streams (hardlight: a `Streaming<Vec<u8>>` method;
//!   tonic: a server-streaming RPC; raw ws: binary messages sent back to back).
//! - **Byte stream**: MB/s on one stream of 1 GiB, from the call to its end, the median of five
//!   such streams (hardlight: a
//!   `ByteStream` method, read through `AsyncRead` with a 64 KiB buffer; tonic: a server-streaming
//!   RPC of 64 KiB `bytes` messages, the gRPC way to move bytes; raw ws: 64 KiB binary messages
//!   sent back to back, the floor).
//! - **Fan-out**: one event to 1,000 subscribed connections, median time until the last one has
//!   it. hardlight: `EventEmitter::emit` to a topic the connections joined; raw ws: the message
//!   queued to each connection's own task, which writes it; tonic: 1,000 server-streaming calls,
//!   one per connection, each fed by its own queue.
//! - **Fan-out to many** (group `fanout`, a table of its own: hardlight, tonic, raw ws): one event
//!   to 10,000 subscribed connections of a server in a child process (10,000 connections in one
//!   process, both ends, would pass an open-files limit of 20,000), median time from the publish
//!   command to the last subscriber; and events delivered per second while 20 events are published
//!   back to back (subscribers × 20 over the time until every subscriber has all of them). raw ws
//!   broadcasts the same tick (sequence number and label) as one binary message. Target: hardlight
//!   within 1.2× raw ws's time.
//! - **Many connections** (group `connections`): calls/s over 1,000 connections with 8 echo calls
//!   of 64 B in flight each (tonic: a `Channel` per connection; raw ws: pipelined on each socket),
//!   server on the server runtime; then 100 such active connections to a server in a child process,
//!   alone and beside 10,000 idle connections, and the ratio of the two.
//! - **Scaling** (group `scaling`): the 1,000-connection shape with N worker threads on each side
//!   (`--scale-workers`, default `1,2`), the server in a child process and the clients on a runtime
//!   of their own, both started from a thread that was never pinned, so spread over every CPU.
//! - **Server memory per idle connection**: the server runs in a child process (this binary,
//!   re-executed with `--serve-idle`); its resident set grows by this much per connection over
//!   1,000 connections that each made one 64 B call and then stayed idle.
//! - **Allocations per call**: for a 64 B echo, one call at a time, the allocations (and the bytes
//!   they asked for) the server's threads and the client's threads made per call, counted by the
//!   binary's global allocator ([`alloc_count`]) over a window of calls after a warm-up. The
//!   client's count includes the benchmark's own copy of the payload into each call (`to_vec`,
//!   `Bytes::copy_from_slice`), the same for every system.
//! - **Across servers** (group `nats`): two hardlight servers bridged through a real `nats-server`
//!   that the run starts (on `PATH`, in `/usr/sbin`, or named by `NATS_SERVER`; on a port of its
//!   choosing, killed at the end). Events emitted on server A, received by a client of A
//!   (`hardlight`) and then by a client of server B (`hardlight_nats`): events/s over 100,000 events
//!   with at most [`measure::nats::WINDOW`] in flight, and µs from publish to arrival, one event at
//!   a time (p50, p99); the added latency is the bridged p50 minus the local one. Without
//!   `nats-server` the cells say `n/a (nats-server not found)`; with `CI=true` that is a failure.
//! - **Plot** (`--plot PATH`): an SVG of the throughput group's calls/s against calls in flight for
//!   hardlight, tonic and raw ws ([`plot`]).
//! - **Metrics**: what recording metrics costs. For each row of the metrics table, on a server and
//!   a client of its own: unary latency (p50, p99) of a 64 B echo one call at a time and
//!   throughput with 256 calls of 64 B in flight on one connection, measured as above, and each
//!   figure divided by `hardlight_metrics_off`'s ("vs off"). A global recorder cannot be
//!   uninstalled, so this group runs last, after every other group (none is measured with a
//!   recorder installed), and measures `hardlight_metrics_off` and `hardlight` before installing
//!   the Prometheus recorder, three times each in alternation (off, on, on, off, off, on; each
//!   figure the median of its three: the two run the same code, so only the order of measurement
//!   could tell them apart); `hardlight_prometheus` then starts a fresh server and client, whose
//!   handles register with it (a server's at its first connection, a client's at its first call).
//!   The run checks that the recorder's rendered output has the server's and the client's call
//!   counts. It is skipped when `--systems` leaves out `hardlight`.
//!
//! ## What is and is not compared
//! - tonic speaks HTTP/2 with its own framing, flow control and headers per call; hardlight and raw
//!   ws carry one WebSocket message per call and reply. The comparison is of what an application
//!   gets, not of equal protocol work.
//! - Each system keeps its defaults (tonic: hyper's HTTP/2 settings, no limit on concurrent
//!   streams; hardlight: up to 256 calls in flight). raw ws reads with hardlight's 4 KiB
//!   tungstenite read buffer, so that it stays a floor for memory too, and batches its writes.
//! - TCP_NODELAY is on for every socket, on both ends.
//! - The figures are of this machine and this run: on a 2-core machine the client and the server
//!   compete for the same cores, so compare rows with each other, not with other machines.
//!
//! - The TLS rows share one certificate, generated here with rcgen, and use rustls with ring.
//! - Everything runs on 127.0.0.1: no network, but no network cost either.
//! - Every loop is bounded both by a count and by time.
#![warn(missing_docs)]

pub mod alloc_count;
pub mod cert;
pub mod measure;
pub mod options;
pub mod plot;
pub mod proto;
pub mod report;
pub mod run;
pub mod systems;

/// The error type of the benchmark: anything that went wrong, with a message saying what.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Builds a [`BoxError`] from a message.
pub fn error(message: impl Into<String>) -> BoxError {
    message.into().into()
}
