//! One comparison run: the runtimes, then every system, one after another, into a [`Report`].

use std::time::Duration;

use hardlight::metrics::names as metric_names;
use tokio::runtime::{Handle, Runtime};

use crate::alloc_count::{self, Side};
use crate::cert::BenchCert;
use crate::measure::{
    allocations, connections, fanout, latency, memory, nats, streaming, throughput, within,
};
use crate::options::{Group, Options, Plan};
use crate::report::{
    AllocColumn, BroadcastColumn, Column, ConnectionsColumn, Figure, IN_FLIGHT, LARGE_PAYLOADS,
    LATENCY_PAYLOADS, LargeColumn, METRICS_IN_FLIGHT, MetricsColumn, NatsColumn, NatsRow, Report,
    Shapes, size,
};
use crate::systems::{Client, ClientTrust, MetricsSetup, RunningServer, System};
use crate::{BoxError, error};

/// Extra time any one measurement gets beyond what its plan allows, before it counts as hung.
const SLACK: Duration = Duration::from_secs(30);

/// A tokio multi-thread runtime with `workers` worker threads, named after `name`.
///
/// # Errors
/// If the runtime cannot be built.
pub fn runtime(name: &str, workers: usize) -> Result<Runtime, BoxError> {
    // What the threads allocate counts for their side (the `allocs` group); the server runtime is
    // the one named "server".
    let side = if name == "server" {
        Side::Server
    } else {
        Side::Client
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(format!("{name}-worker"))
        .on_thread_start(move || alloc_count::mark_thread(side))
        .enable_all()
        .build()
        .map_err(|e| error(format!("building the {name} runtime: {e}")))
}

/// The lines that say how the run was made.
pub fn header(options: &Options, plan: &Plan, placement: Placement) -> Vec<String> {
    let workers = options.workers;
    let mode = if options.quick { "quick" } else { "full" };
    let payloads: Vec<String> = LATENCY_PAYLOADS.into_iter().map(size).collect();
    let only = options.only.as_ref().map(|only| {
        let names: Vec<&str> = Group::ALL
            .iter()
            .filter(|(group, _)| only.contains(group))
            .map(|(_, name)| *name)
            .collect();
        format!(
            "- only: {} (`--only`); the other figures are skipped",
            names.join(", ")
        )
    });
    let lines = vec![
        format!("# hardlight vs tonic vs raw WebSocket ({mode} run)"),
        String::new(),
        format!(
            "- runtimes: servers on one tokio multi-thread runtime with {workers} worker(s), clients on \
             a separate one with {workers} worker(s); everything on 127.0.0.1"
        ),
        match placement {
            Placement::Pinned { cpu, cpus } => format!(
                "- CPUs: the whole process pinned to CPU {cpu} (of {cpus}), so that latency is the \
                 systems' own work rather than the wake-up of an idle CPU; `--spread` uses them all"
            ),
            Placement::Spread { cpus } => format!(
                "- CPUs: threads spread by the OS over {cpus} CPUs (`--spread`); at one call at a time \
                 latency includes waking an idle CPU, which on a virtual machine can cost more than \
                 the protocol"
            ),
        },
        format!(
            "- latency: one call at a time, payloads {}, {} samples per cell after {} warm-up calls \
             (at most {:?} per cell); microseconds (hdrhistogram)",
            payloads.join(" / "),
            plan.latency_samples,
            plan.latency_warmup,
            plan.latency_time
        ),
        format!(
            "- large messages: the latency cells for {}, plaintext, owned and view echo beside \
             tonic and the raw echo (each client copies the payload once per call)",
            LARGE_PAYLOADS.map(size).join(" / ")
        ),
        format!(
            "- throughput: {} echo, N calls in flight on one connection (one tonic channel), \
             calls/s over {:?} after {:?} warm-up",
            size(throughput::PAYLOAD),
            plan.throughput_window,
            plan.throughput_warmup
        ),
        format!(
            "- stream: {} items of {} on one server stream (tonic: a server-streaming RPC; raw ws: \
             messages sent back to back), items/s from the call to the last item, median of {} \
             streams",
            plan.stream_items,
            size(streaming::ITEM_SIZE as usize),
            plan.stream_runs
        ),
        format!(
            "- byte stream: {} on one hardlight `ByteStream`, read in place (`AsyncBufRead`) \
             (tonic: a server-streaming RPC of {} messages; raw ws: {} messages sent back to \
             back), MB/s from the call to the end, median of {} streams",
            size(plan.stream_bytes as usize),
            size(streaming::BYTES_CHUNK as usize),
            size(streaming::BYTES_CHUNK as usize),
            plan.stream_runs
        ),
        format!(
            "- fan-out: one event to {} subscribed connections, median of {} emits, microseconds \
             until the last connection has it",
            plan.fanout_connections, plan.fanout_emits
        ),
        format!(
            "- memory: server resident-set growth over {} idle connections (one 64 B call each), \
             per connection; the server runs in a child process",
            plan.idle_connections
        ),
        format!(
            "- fan-out to many: one event to {} subscribed connections of a server in a child \
             process (so that each process holds one end of each connection, within the \
             open-files limit), median of {} emits, microseconds from the publish command to the \
             last subscriber; and events/s delivered: subscribers × {} events published back to \
             back, over the time until every subscriber has all of them (median of {} bursts); \
             raw ws broadcasts the same tick (sequence number and label) as one binary message",
            plan.fanout_many_connections,
            plan.fanout_emits,
            plan.fanout_burst,
            fanout::BURSTS
        ),
        format!(
            "- connections: {} echo, {} calls in flight per connection (tonic: one channel, one \
             HTTP/2 connection, each; raw ws: pipelined on each socket), calls/s over {:?} after \
             {:?} warm-up; busy: {} connections to a server on this process's server runtime; \
             active: {} connections to a server in a child process ({} worker(s)), alone and \
             then with {} more connections open and idle (each made one call; the child holds \
             the server ends, so that each process stays within the open-files limit)",
            size(throughput::PAYLOAD),
            plan.calls_per_connection,
            plan.throughput_window,
            plan.throughput_warmup,
            plan.many_connections,
            plan.active_connections,
            workers,
            plan.idle_beside_active
        ),
        format!(
            "- scaling: the busy-connections shape ({} connections × {} in flight: many \
             connections spread work over a server's workers, one connection would not) with N \
             worker threads on each side, N = {}: the server in a child process with N workers, \
             the clients on a runtime of their own with N workers, both started from a thread \
             that was never pinned, so their threads may run on every CPU even without \
             `--spread`; calls/s",
            plan.many_connections,
            plan.calls_per_connection,
            options
                .scale_workers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "- across servers: two hardlight servers (ws://, on the server runtime) bridged \
             through a `nats-server` started for the run (a child process, on the CPUs this \
             process may use); events emitted on server A, received by a client of A and then \
             by a client of B; events/s over {} events with at most {} in flight, and µs from \
             publish to arrival over {} events one at a time",
            plan.nats_events,
            nats::WINDOW,
            plan.nats_samples
        ),
        format!(
            "- metrics: hardlight over ws:// with metrics off, on without a recorder, and on with \
             a Prometheus recorder (installed after the first two, measured last); p50/p99 of a \
             {} echo as above, calls/s with {METRICS_IN_FLIGHT} in flight as above",
            size(throughput::PAYLOAD)
        ),
    ];
    let systems = options.systems.as_ref().map(|systems| {
        let names: Vec<&str> = systems.iter().map(|s| s.name()).collect();
        format!(
            "- systems: {} (`--systems`); the others are skipped",
            names.join(", ")
        )
    });
    lines.into_iter().chain(only).chain(systems).collect()
}

/// Where the run's threads may run, for the report's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The whole process on CPU `cpu`, one of the `cpus` it could have used.
    Pinned {
        /// The CPU.
        cpu: usize,
        /// CPUs available before pinning.
        cpus: usize,
    },
    /// Threads placed by the OS over `cpus` CPUs.
    Spread {
        /// CPUs available.
        cpus: usize,
    },
}

/// A thread started before the process pinned itself to one CPU, so that it may run on every CPU,
/// and so may the threads and processes it starts (they inherit its affinity). The scaling group
/// starts its runtimes and server processes on it.
#[derive(Clone)]
pub struct Unpinned {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl Unpinned {
    /// Starts the thread. Call it before pinning the process.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn start() -> Result<Self, BoxError> {
        let (jobs, received) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("unpinned".into())
            .spawn(move || {
                for job in received {
                    job();
                }
            })
            .map_err(|e| error(format!("starting the unpinned thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `job` on the thread and returns what it returned.
    ///
    /// # Errors
    /// If the thread has stopped (a job panicked).
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, BoxError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(job());
            }))
            .map_err(|_| error("the unpinned thread has stopped"))?;
        result
            .await
            .map_err(|_| error("a job on the unpinned thread panicked"))
    }
}

/// The counts the tables of the shapes real servers see are titled with.
pub fn shapes(options: &Options, plan: &Plan) -> Shapes {
    Shapes {
        many_connections: plan.many_connections,
        calls_per_connection: plan.calls_per_connection,
        active_connections: plan.active_connections,
        idle_beside_active: plan.idle_beside_active,
        fanout_many_connections: plan.fanout_many_connections,
        fanout_burst: plan.fanout_burst,
        scale_workers: options.scale_workers.clone(),
        nats_events: plan.nats_events,
        nats_samples: plan.nats_samples,
    }
}

/// Measures every system with `plan`, servers on `servers`, clients on the current runtime. A
/// failed figure is reported on standard error and shows as `error` in the report.
pub async fn compare(
    options: &Options,
    plan: &Plan,
    placement: Placement,
    servers: &Handle,
    cert: &BenchCert,
    unpinned: &Unpinned,
) -> Report {
    let mut report = Report::new(header(options, plan, placement), plan.fanout_connections)
        .with_shapes(shapes(options, plan));
    let trust = match ClientTrust::of(cert) {
        Ok(trust) => trust,
        Err(e) => {
            eprintln!("cannot trust the benchmark certificate: {e}");
            return report;
        }
    };
    report.skip(
        |system, column| !options.measures(system) || !options.runs(column_group(column)),
        |system| options.measures(system) && options.runs(Group::Large),
        |system| options.measures(system) && options.runs(Group::Allocs),
    );
    report.skip_shapes(
        |system| options.measures(system) && options.runs(Group::Connections),
        |system| options.measures(system) && options.runs(Group::Scaling),
        |system| options.measures(system) && options.runs(Group::Fanout),
    );
    for system in System::ALL.into_iter().filter(|s| options.measures(*s)) {
        let run = calls_and_fanout(system, options, plan, servers, cert, &trust, &mut report);
        if let Err(e) = run.await {
            eprintln!("{}: {e}", system.name());
        }
    }
    for system in System::LARGE
        .into_iter()
        .filter(|s| options.measures(*s) && options.runs(Group::Large))
    {
        if let Err(e) = large_messages(system, plan, servers, cert, &trust, &mut report).await {
            eprintln!("{}: {e}", system.name());
        }
    }
    for system in System::ALL
        .into_iter()
        .filter(|s| options.measures(*s) && options.runs(Group::Memory))
    {
        eprintln!("{}: memory per idle connection", system.name());
        let limit = Duration::from_secs(120) + SLACK;
        let measured = within(
            "memory",
            limit,
            memory::kib_per_idle_connection(system, plan, options.workers),
        )
        .await;
        report.set(system, Column::Memory, figure(system, "memory", measured));
    }
    for system in System::SHAPES
        .into_iter()
        .filter(|s| options.measures(*s) && options.runs(Group::Fanout))
    {
        eprintln!(
            "{}: fan-out to {} connections (server in a child process)",
            system.name(),
            plan.fanout_many_connections
        );
        let limit = Duration::from_secs(300) + SLACK;
        let measured = within(
            "fan-out to many",
            limit,
            fanout::to_many(system, plan, options.workers),
        )
        .await;
        let figures = match measured {
            Ok(b) => [b.last_us, b.events_per_second].map(Figure::Value),
            Err(e) => {
                eprintln!("{}: fan-out to many failed: {e}", system.name());
                [Figure::Failed; BroadcastColumn::ALL.len()]
            }
        };
        for (column, figure) in BroadcastColumn::ALL.into_iter().zip(figures) {
            report.set_broadcast(system, column, figure);
        }
    }
    for system in System::SHAPES
        .into_iter()
        .filter(|s| options.measures(*s) && options.runs(Group::Connections))
    {
        many_connections(system, options, plan, servers, cert, &trust, &mut report).await;
    }
    for system in System::SHAPES
        .into_iter()
        .filter(|s| options.measures(*s) && options.runs(Group::Scaling))
    {
        for (i, &workers) in options.scale_workers.iter().enumerate() {
            eprintln!(
                "{}: {} connections with {workers} worker(s) each side, spread",
                system.name(),
                plan.many_connections
            );
            let limit = Duration::from_secs(240) + SLACK;
            let measured = within(
                "scaling",
                limit,
                connections::with_workers(system, plan, workers, unpinned),
            )
            .await;
            report.set_scaling(system, i, figure(system, "scaling", measured));
        }
    }
    if options.runs(Group::Nats) && options.measures(System::Hardlight) {
        across_servers(plan, servers, &mut report).await;
    } else {
        report.skip_nats();
    }
    // LAST, after every other group: it installs a global metrics recorder, which cannot be
    // uninstalled, and any hardlight server or client started after it would record into it. Keep
    // any group added later above this line.
    if options.runs(Group::Metrics) && options.measures(System::Hardlight) {
        metrics_overhead(plan, servers, &mut report).await;
    } else {
        report.skip_metrics();
    }
    report
}

/// The metrics group: hardlight over ws:// with metrics off, on with no recorder installed, then on
/// with a Prometheus recorder, each on a server and a client of its own.
///
/// Must be the last measurement of the run: it installs a Prometheus recorder as the process's
/// global recorder, which cannot be uninstalled, so whatever ran after it would be measured with
/// the recorder. For the same reason the setups are measured in [`MetricsSetup::ALL`]'s order:
/// `hardlight_metrics_off` and `hardlight` first, with no recorder installed, then the recorder is
/// installed and `hardlight_prometheus` is measured on a fresh server and client (hardlight
/// registers a server's handles at its first connection and a client's at its first call, with the
/// recorder installed then; handles registered before the recorder stay no-ops).
///
/// The two setups without a recorder run the same code (nothing is registered or timed without
/// one), so what tells them apart is the order they are measured in on a noisy machine: they are
/// measured in alternation, off, on, on, off, off, on, and each figure is the median of its three.
async fn metrics_overhead(plan: &Plan, servers: &Handle, report: &mut Report) {
    use MetricsSetup::{NoRecorder, Off};
    let mut rounds: Vec<(MetricsSetup, [Figure; 3])> = Vec::new();
    for setup in [Off, NoRecorder, NoRecorder, Off, Off, NoRecorder] {
        match metrics_setup(setup, plan, servers, None).await {
            Ok(figures) => rounds.push((setup, figures)),
            Err(e) => eprintln!("{}: {e}", setup.name()),
        }
    }
    for setup in [Off, NoRecorder] {
        for (i, column) in MetricsColumn::ALL.into_iter().enumerate() {
            let mut values: Vec<f64> = rounds
                .iter()
                .filter(|(s, _)| *s == setup)
                .filter_map(|(_, figures)| match figures[i] {
                    Figure::Value(v) => Some(v),
                    _ => None,
                })
                .collect();
            values.sort_by(f64::total_cmp);
            let figure = match values.len() {
                3 => Figure::Value(values[1]),
                _ => Figure::Failed,
            };
            report.set_metrics(setup, column, figure);
        }
    }
    // Then the recorder, for good. No HTTP listener and no upkeep task: `metrics_setup` runs the
    // upkeep (draining the histograms' buckets) between measurements, as the exporter's own task
    // would every 5 s.
    let setup = MetricsSetup::Prometheus;
    let prometheus = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
    {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("{}: installing the recorder failed: {e}", setup.name());
            return;
        }
    };
    match metrics_setup(setup, plan, servers, Some(&prometheus)).await {
        Ok(figures) => {
            for (column, figure) in MetricsColumn::ALL.into_iter().zip(figures) {
                report.set_metrics(setup, column, figure);
            }
        }
        Err(e) => eprintln!("{}: {e}", setup.name()),
    }
    // Something was recorded: the server's and the client's successful calls at least.
    {
        let rendered = prometheus.render();
        for name in [metric_names::SERVER_CALLS, metric_names::CLIENT_CALLS] {
            let calls = ok_calls(&rendered, name);
            eprintln!("hardlight_prometheus: {name}{{outcome=\"ok\"}}: {calls}");
            if calls == 0 {
                eprintln!("hardlight_prometheus: the recorder has no successful {name}");
                for column in MetricsColumn::ALL {
                    report.set_metrics(MetricsSetup::Prometheus, column, Figure::Failed);
                }
            }
        }
    }
}

/// The across-servers group: events through a NATS bridge between two hardlight servers, beside
/// the same events on one server. Without `nats-server` the table says so; with `CI=true` in the
/// environment that is a failure instead (a CI run must not skip it silently).
async fn across_servers(plan: &Plan, servers: &Handle, report: &mut Report) {
    let Some(binary) = nats::find_nats_server() else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            eprintln!(
                "hardlight_nats: nats-server not found (NATS_SERVER, PATH, /usr/sbin), and CI=true: \
                 install it (Debian package `nats-server`; `scripts/test` does)"
            );
            // Every cell stays `error`: the run exits 1.
        } else {
            eprintln!(
                "hardlight_nats: nats-server not found (NATS_SERVER, PATH, /usr/sbin); skipped"
            );
            report.nats_unavailable("nats-server not found");
        }
        return;
    };
    eprintln!(
        "hardlight_nats: two servers bridged through {}",
        binary.display()
    );
    let limit = Duration::from_secs(120) + SLACK;
    match within(
        "across servers",
        limit,
        nats::across_servers(&binary, plan, servers),
    )
    .await
    {
        Ok(across) => {
            for (row, delivery) in [
                (NatsRow::Local, across.local),
                (NatsRow::Bridged, across.bridged),
            ] {
                let values = [delivery.events_per_second, delivery.p50_us, delivery.p99_us];
                for (column, value) in NatsColumn::ALL.into_iter().zip(values) {
                    report.set_nats(row, column, Figure::Value(value));
                }
            }
        }
        Err(e) => eprintln!("hardlight_nats: across servers failed: {e}"),
    }
}

/// The sum of the samples of counter `name` with `outcome="ok"` in Prometheus's text format.
fn ok_calls(rendered: &str, name: &str) -> u64 {
    rendered
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') && rest.contains("outcome=\"ok\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The metrics table's figures of one setup (in [`MetricsColumn::ALL`]'s order), on a server and a
/// client of its own.
async fn metrics_setup(
    setup: MetricsSetup,
    plan: &Plan,
    servers: &Handle,
    prometheus: Option<&metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<[Figure; 3], BoxError> {
    let name = setup.name();
    let upkeep = || {
        if let Some(handle) = prometheus {
            handle.run_upkeep();
        }
    };
    let server = RunningServer::start_hardlight(setup, servers).await?;
    let client = within(
        "connect",
        SLACK,
        Client::connect_hardlight(setup, server.port),
    )
    .await?;

    let payload = throughput::PAYLOAD;
    eprintln!("{name}: latency {}", size(payload));
    let limit = plan.latency_time + SLACK;
    let measured = within("latency", limit, latency::unary(&client, payload, plan)).await;
    let (p50, p99) = match measured {
        Ok(l) => (Figure::Value(l.p50_us), Figure::Value(l.p99_us)),
        Err(e) => {
            eprintln!("{name}: latency failed: {e}");
            (Figure::Failed, Figure::Failed)
        }
    };
    upkeep();

    eprintln!("{name}: throughput, {METRICS_IN_FLIGHT} in flight");
    let limit = plan.throughput_warmup + plan.throughput_window + SLACK;
    let measured = within(
        "throughput",
        limit,
        throughput::calls_per_second(&client, METRICS_IN_FLIGHT, plan),
    )
    .await;
    let figure = match measured {
        Ok(calls) => Figure::Value(calls),
        Err(e) => {
            eprintln!("{name}: throughput failed: {e}");
            Figure::Failed
        }
    };
    upkeep();
    Ok([p50, p99, figure])
}

/// The group a column belongs to.
fn column_group(column: Column) -> Group {
    match column {
        Column::P50(_) | Column::P99(_) => Group::Latency,
        Column::Throughput(_) => Group::Throughput,
        Column::Stream => Group::Items,
        Column::Bytes => Group::Bytes,
        Column::Fanout => Group::Fanout,
        Column::Memory => Group::Memory,
    }
}

/// The latency, throughput and stream figures of one system on a server of its own, then the
/// fan-out figure on a fresh one: those of `options`' groups.
async fn calls_and_fanout(
    system: System,
    options: &Options,
    plan: &Plan,
    servers: &Handle,
    cert: &BenchCert,
    trust: &ClientTrust,
    report: &mut Report,
) -> Result<(), BoxError> {
    let name = system.name();
    let server = RunningServer::start(system, cert, servers).await?;
    let client = within(
        "connect",
        SLACK,
        Client::connect(system, server.port, trust),
    )
    .await?;

    let latency = options.runs(Group::Latency);
    for (i, payload) in LATENCY_PAYLOADS.into_iter().enumerate().filter(|_| latency) {
        eprintln!("{name}: latency {}", size(payload));
        let limit = plan.latency_time + SLACK;
        let measured = within("latency", limit, latency::unary(&client, payload, plan)).await;
        let (p50, p99) = match measured {
            Ok(l) => (Figure::Value(l.p50_us), Figure::Value(l.p99_us)),
            Err(e) => {
                eprintln!("{name}: latency failed: {e}");
                (Figure::Failed, Figure::Failed)
            }
        };
        report.set(system, Column::P50(i), p50);
        report.set(system, Column::P99(i), p99);
    }

    let throughput = options.runs(Group::Throughput);
    for (i, in_flight) in IN_FLIGHT.into_iter().enumerate().filter(|_| throughput) {
        eprintln!("{name}: throughput, {in_flight} in flight");
        let limit = plan.throughput_warmup + plan.throughput_window + SLACK;
        let measured = within(
            "throughput",
            limit,
            throughput::calls_per_second(&client, in_flight, plan),
        )
        .await;
        report.set(
            system,
            Column::Throughput(i),
            figure(system, "throughput", measured),
        );
    }
    if options.runs(Group::Allocs) {
        eprintln!("{name}: allocations per call");
        let measured = within(
            "allocations",
            SLACK,
            allocations::per_call(&client, plan.alloc_calls),
        )
        .await;
        let figures = match measured {
            Ok(per_call) => [
                per_call.server.allocations,
                per_call.server.bytes,
                per_call.client.allocations,
                per_call.client.bytes,
            ]
            .map(Figure::Value),
            Err(e) => {
                eprintln!("{name}: allocations failed: {e}");
                [Figure::Failed; AllocColumn::ALL.len()]
            }
        };
        for (column, figure) in AllocColumn::ALL.into_iter().zip(figures) {
            report.set_allocs(system, column, figure);
        }
    }
    let limit = std::time::Duration::from_secs(120) + SLACK;
    if options.runs(Group::Items) {
        eprintln!(
            "{name}: {} streams of {} items",
            plan.stream_runs, plan.stream_items
        );
        let measured = within("stream", limit, streaming::items_per_second(&client, plan)).await;
        report.set(system, Column::Stream, figure(system, "stream", measured));
    }
    if options.runs(Group::Bytes) {
        eprintln!(
            "{name}: {} byte streams of {}",
            plan.stream_runs,
            size(plan.stream_bytes as usize)
        );
        let measured = within(
            "byte stream",
            limit,
            streaming::megabytes_per_second(&client, plan),
        )
        .await;
        report.set(
            system,
            Column::Bytes,
            figure(system, "byte stream", measured),
        );
    }
    drop(client);
    drop(server);
    if !options.runs(Group::Fanout) {
        return Ok(());
    }

    // A server of its own, so that every connection it has is one of the subscribers.
    eprintln!("{name}: fan-out to {} connections", plan.fanout_connections);
    let server = RunningServer::start(system, cert, servers).await?;
    let limit = Duration::from_secs(120) + SLACK;
    let measured = within(
        "fan-out",
        limit,
        fanout::median_us(system, &server, trust, plan),
    )
    .await;
    report.set(system, Column::Fanout, figure(system, "fan-out", measured));
    Ok(())
}

/// The many-connections figures of one system: busy connections to a server of its own on the
/// server runtime, then active connections beside idle ones, to a server in a child process.
async fn many_connections(
    system: System,
    options: &Options,
    plan: &Plan,
    servers: &Handle,
    cert: &BenchCert,
    trust: &ClientTrust,
    report: &mut Report,
) {
    let name = system.name();
    eprintln!(
        "{name}: {} busy connections, {} in flight each",
        plan.many_connections, plan.calls_per_connection
    );
    let limit = Duration::from_secs(240) + SLACK;
    let measured = match RunningServer::start(system, cert, servers).await {
        Ok(server) => {
            within(
                "busy connections",
                limit,
                connections::busy(system, &server, trust, plan),
            )
            .await
        }
        Err(e) => Err(e),
    };
    report.set_connections(
        system,
        ConnectionsColumn::Busy,
        figure(system, "busy connections", measured),
    );
    eprintln!(
        "{name}: {} active connections beside {} idle ones (server in a child process)",
        plan.active_connections, plan.idle_beside_active
    );
    let measured = within(
        "active beside idle",
        limit,
        connections::active_beside_idle(system, plan, options.workers),
    )
    .await;
    let (alone, with_idle) = match measured {
        Ok(m) => (Figure::Value(m.alone), Figure::Value(m.with_idle)),
        Err(e) => {
            eprintln!("{name}: active beside idle failed: {e}");
            (Figure::Failed, Figure::Failed)
        }
    };
    report.set_connections(system, ConnectionsColumn::ActiveAlone, alone);
    report.set_connections(system, ConnectionsColumn::ActiveWithIdle, with_idle);
}

/// The large-message latency figures of one system, on a server of its own.
async fn large_messages(
    system: System,
    plan: &Plan,
    servers: &Handle,
    cert: &BenchCert,
    trust: &ClientTrust,
    report: &mut Report,
) -> Result<(), BoxError> {
    let name = system.name();
    let server = RunningServer::start(system, cert, servers).await?;
    let client = within(
        "connect",
        SLACK,
        Client::connect(system, server.port, trust),
    )
    .await?;
    for (i, payload) in LARGE_PAYLOADS.into_iter().enumerate() {
        eprintln!("{name}: large message {}", size(payload));
        let limit = plan.latency_time + SLACK;
        let measured = within("latency", limit, latency::unary(&client, payload, plan)).await;
        let (p50, p99) = match measured {
            Ok(l) => (Figure::Value(l.p50_us), Figure::Value(l.p99_us)),
            Err(e) => {
                eprintln!("{name}: large message latency failed: {e}");
                (Figure::Failed, Figure::Failed)
            }
        };
        report.set_large(system, LargeColumn::P50(i), p50);
        report.set_large(system, LargeColumn::P99(i), p99);
    }
    Ok(())
}

/// The cell for a measurement's outcome; an error is reported on standard error.
fn figure(
    system: System,
    what: &str,
    measured: Result<impl Into<Option<f64>>, BoxError>,
) -> Figure {
    match measured.map(Into::into) {
        Ok(Some(value)) => Figure::Value(value),
        Ok(None) => Figure::NotApplicable,
        Err(e) => {
            eprintln!("{}: {what} failed: {e}", system.name());
            Figure::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_ok_calls_of_a_rendered_counter() {
        let rendered = "\
# TYPE hardlight_server_calls_total counter
hardlight_server_calls_total{service=\"Bench\",method=\"echo\",outcome=\"ok\"} 1200
hardlight_server_calls_total{service=\"Bench\",method=\"join\",outcome=\"ok\"} 3
hardlight_server_calls_total{service=\"Bench\",method=\"echo\",outcome=\"panicked\"} 7
hardlight_server_calls_total_other{outcome=\"ok\"} 50
hardlight_client_calls_total{service=\"Bench\",method=\"echo\",outcome=\"ok\"} 0
";
        assert_eq!(ok_calls(rendered, metric_names::SERVER_CALLS), 1203);
        assert_eq!(ok_calls(rendered, metric_names::CLIENT_CALLS), 0);
        assert_eq!(ok_calls("", metric_names::CLIENT_CALLS), 0);
    }
}
