//! Events across servers: two hardlight servers bridged through a real `nats-server` (started here,
//! on a port of its choosing, and killed at the end), events emitted on server A and received by a
//! client of server B, beside the same events received by a client of server A.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hardlight::{ClientConfig, EventEmitter, NatsBridge};
use hdrhistogram::Histogram;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::within;
use crate::options::Plan;
use crate::systems::hardlight::{self as hl, Events, Tick};
use crate::{BoxError, error};

/// Events published and not yet received, at most, while measuring events/s: within the default
/// per-connection outbound queue (1,024 frames), client event buffer (1,024) and bridge queue
/// (8,192), so that no event is dropped and no subscriber is disconnected as a slow consumer.
pub const WINDOW: u64 = 256;
/// Events published one at a time before the latency samples.
pub const WARMUP: u64 = 20;
/// Longest the NATS server may take to start, and a bridge to connect and sync.
const READY_LIMIT: Duration = Duration::from_secs(15);
/// Longest one event may take to arrive.
const EVENT_LIMIT: Duration = Duration::from_secs(10);
/// Where `nats-server` is looked for besides `PATH`: Debian's package installs it in `/usr/sbin`,
/// which is not on every user's `PATH`.
pub const NATS_SERVER_DIRS: [&str; 3] = ["/usr/sbin", "/usr/local/bin", "/usr/bin"];

/// The figures of one row of the across-servers table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Events per second from the first publish to the last arrival, [`WINDOW`] at most in flight.
    pub events_per_second: f64,
    /// Median µs from publish to arrival, one event at a time.
    pub p50_us: f64,
    /// 99th-percentile µs from publish to arrival, one event at a time.
    pub p99_us: f64,
}

/// Both rows: received on the server that emitted (`local`), and on the other one (`bridged`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Across {
    /// Emitted on server A, received by a client of server A.
    pub local: Delivery,
    /// Emitted on server A, received by a client of server B through NATS.
    pub bridged: Delivery,
}

/// The environment variable that names the `nats-server` binary to use instead of searching.
pub const NATS_SERVER_VAR: &str = "NATS_SERVER";

/// The `nats-server` binary: the one [`NATS_SERVER_VAR`] names if it is set (none if that is not
/// an executable file), else the first on `PATH`, else one in [`NATS_SERVER_DIRS`].
pub fn find_nats_server() -> Option<PathBuf> {
    if let Some(named) = std::env::var_os(NATS_SERVER_VAR) {
        let named = PathBuf::from(named);
        return is_executable(&named).then_some(named);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(NATS_SERVER_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A `nats-server` child process on a port of its choosing on 127.0.0.1, killed when dropped.
pub struct NatsServer {
    child: Child,
    /// The port it accepts clients on.
    pub port: u16,
}

impl NatsServer {
    /// Starts `binary` on 127.0.0.1 with a random port (`-p -1`) and waits until its log says it is
    /// ready (`Server is ready`, after `Listening for client connections on 127.0.0.1:PORT`).
    ///
    /// # Errors
    /// If it cannot start, exits, or is not ready within 15 s.
    pub async fn start(binary: &Path) -> Result<Self, BoxError> {
        let mut child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| error(format!("starting {}: {e}", binary.display())))?;
        let stderr = child.stderr.take().ok_or_else(|| error("no stderr"))?;
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<u16, String>>();
        // Reads the log to its end (the process's exit), so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            let mut port = None;
            let mut last = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    port = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                }
                if line.contains("Server is ready")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(port.ok_or_else(|| "no port in its log".to_owned()));
                }
                last = line;
            }
            if let Some(tx) = ready_tx.take() {
                let _ = tx.send(Err(format!("it exited before it was ready: {last}")));
            }
        });
        let mut server = Self { child, port: 0 };
        server.port = within("nats-server to be ready", READY_LIMIT, async {
            ready
                .await
                .map_err(|_| error("its log reader stopped"))?
                .map_err(|e| error(format!("nats-server: {e}")))
        })
        .await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bridged hardlight server on the server runtime, stopped when dropped.
struct Bridged {
    port: u16,
    emitter: EventEmitter<Tick>,
    bridge: NatsBridge,
    task: JoinHandle<()>,
}

impl Bridged {
    async fn start(nats_url: String, servers: &Handle) -> Result<Self, BoxError> {
        let (port, emitter, bridge, task) = servers
            .spawn(async move { hl::start_bridged(&nats_url).await })
            .await
            .map_err(|e| error(format!("hardlight_nats: server start panicked: {e}")))??;
        Ok(Self {
            port,
            emitter,
            bridge,
            task,
        })
    }

    /// A client of this server, subscribed to the ticks' topic.
    async fn subscriber(&self) -> Result<Events, BoxError> {
        let config = ClientConfig::plaintext(format!("127.0.0.1:{}", self.port));
        within("subscribing", READY_LIMIT, async {
            Events::join(hl::connect_with(config).await?).await
        })
        .await
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `nats-server` (`binary`) and two hardlight servers bridged through it on `servers`, then
/// measures events emitted on server A: first received by a client of A, then (that client gone)
/// by a client of B. Each row: events/s over `plan.nats_events` events with at most [`WINDOW`] in
/// flight, then publish-to-arrival latency over `plan.nats_samples` events one at a time (after
/// [`WARMUP`] events).
///
/// # Errors
/// If a server or the bridge fails to start or sync, or an event is lost, out of order or late.
pub async fn across_servers(
    binary: &Path,
    plan: &Plan,
    servers: &Handle,
) -> Result<Across, BoxError> {
    let nats = NatsServer::start(binary).await?;
    let a = Bridged::start(nats.url(), servers).await?;
    let b = Bridged::start(nats.url(), servers).await?;
    for (name, server) in [("A", &a), ("B", &b)] {
        within(
            &format!("server {name}'s bridge to connect"),
            READY_LIMIT,
            async {
                server.bridge.wait_for(|status| status.connected).await;
                Ok(())
            },
        )
        .await?;
    }
    let mut seq = 0;

    eprintln!("hardlight: events on one server");
    let mut on_a = a.subscriber().await?;
    let local = delivery(&a.emitter, &mut on_a, &mut seq, true, plan).await?;
    // Gone, so that A's emits reach no subscriber of A while B's client is measured.
    drop(on_a);

    eprintln!("hardlight_nats: events from server A to a client of server B");
    let mut on_b = b.subscriber().await?;
    within("server B's bridge to sync", READY_LIMIT, async {
        b.bridge.wait_synced().await;
        Ok(())
    })
    .await?;
    let bridged = delivery(&a.emitter, &mut on_b, &mut seq, false, plan).await?;
    let status = a.bridge.status();
    if status.dropped > 0 {
        return Err(error(format!(
            "server A's bridge dropped {} events",
            status.dropped
        )));
    }
    drop(on_b);
    drop((a, b));
    drop(nats);
    Ok(Across { local, bridged })
}

/// Events/s and latency of events emitted with `emitter` and received by `events`, numbered from
/// `*seq` on. `local`: the subscriber is the emitting server's (each emit must be queued for it).
async fn delivery(
    emitter: &EventEmitter<Tick>,
    events: &mut Events,
    seq: &mut u64,
    local: bool,
    plan: &Plan,
) -> Result<Delivery, BoxError> {
    let emit = async |seq: u64| {
        let queued = hl::publish(emitter, seq).await?;
        if local && queued != 1 {
            return Err(error(format!(
                "event {seq} was queued for {queued} local subscribers, not 1"
            )));
        }
        Ok::<_, BoxError>(())
    };
    // Across servers, events A emitted before this phase may still be on their way: A's bridge
    // hands its emits to NATS from a queue of its own, and NATS delivers to B what it gets after B
    // subscribed. Such an event, older than this phase's first, is skipped (under load in CI one
    // arrived first). A's one publisher keeps the emit order, so none comes after a newer one.
    let floor = *seq;
    let next = async |expected: u64, events: &mut Events| {
        loop {
            let got = tokio::time::timeout(EVENT_LIMIT, events.next())
                .await
                .map_err(|_| {
                    error(format!("event {expected}: not received in {EVENT_LIMIT:?}"))
                })??;
            if !local && got < floor {
                continue;
            }
            if got != expected {
                return Err(error(format!("expected event {expected}, received {got}")));
            }
            return Ok::<_, BoxError>(());
        }
    };

    // One at a time: warm-up, then the samples.
    let mut histogram = Histogram::<u64>::new(3).map_err(|e| error(e.to_string()))?;
    for i in 0..WARMUP + plan.nats_samples {
        let started = Instant::now();
        emit(*seq).await?;
        next(*seq, events).await?;
        let took = started.elapsed();
        *seq += 1;
        if i >= WARMUP {
            histogram
                .record((took.as_nanos() as u64).max(1))
                .map_err(|e| error(e.to_string()))?;
        }
    }

    // Then as many as the window lets through.
    let first = *seq;
    let end = first + plan.nats_events;
    let (mut sent, mut received) = (first, first);
    let started = Instant::now();
    while received < end {
        while sent < end && sent - received < WINDOW {
            emit(sent).await?;
            sent += 1;
        }
        next(received, events).await?;
        received += 1;
    }
    let took = started.elapsed().as_secs_f64().max(1e-9);
    *seq = end;
    Ok(Delivery {
        events_per_second: plan.nats_events as f64 / took,
        p50_us: histogram.value_at_quantile(0.5) as f64 / 1e3,
        p99_us: histogram.value_at_quantile(0.99) as f64 / 1e3,
    })
}
