//! The report: a markdown table with one row per system, the targets, and the ratio lines
//! the run ends with.

use std::fmt::Write;

use crate::systems::{MetricsSetup, System};

/// Payload sizes of the latency columns, in bytes.
pub const LATENCY_PAYLOADS: [usize; 3] = [64, 1024, 64 * 1024];
/// Payload sizes of the large-message table, in bytes.
pub const LARGE_PAYLOADS: [usize; 2] = [64 * 1024, 1024 * 1024];
/// Calls in flight of the throughput columns.
pub const IN_FLIGHT: [usize; 3] = [1, 16, 256];

/// One cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// Measured.
    Value(f64),
    /// This figure does not apply to this system (or this platform).
    NotApplicable,
    /// Not measured: the measurement failed (the reason went to standard error), or it has not run.
    Failed,
    /// Not measured: the run was asked not to (`--only`).
    Skipped,
}

/// A column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Median latency, µs, for the payload `LATENCY_PAYLOADS[i]`.
    P50(usize),
    /// 99th-percentile latency, µs, for the payload `LATENCY_PAYLOADS[i]`.
    P99(usize),
    /// Calls per second with `IN_FLIGHT[i]` calls in flight.
    Throughput(usize),
    /// Items per second on one server stream of 64 B items.
    Stream,
    /// Megabytes per second on one byte stream.
    Bytes,
    /// Median fan-out time, µs.
    Fanout,
    /// Server memory per idle connection, KiB.
    Memory,
}

impl Column {
    /// Every column, in table order.
    pub const ALL: [Column; 13] = [
        Column::P50(0),
        Column::P99(0),
        Column::P50(1),
        Column::P99(1),
        Column::P50(2),
        Column::P99(2),
        Column::Throughput(0),
        Column::Throughput(1),
        Column::Throughput(2),
        Column::Stream,
        Column::Bytes,
        Column::Fanout,
        Column::Memory,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in Column::ALL")
    }

    fn title(self, fanout_connections: usize) -> String {
        match self {
            Column::P50(i) => format!("p50 {} (µs)", size(LATENCY_PAYLOADS[i])),
            Column::P99(i) => format!("p99 {} (µs)", size(LATENCY_PAYLOADS[i])),
            Column::Throughput(i) => format!("c{} (calls/s)", IN_FLIGHT[i]),
            Column::Stream => "stream 64 B (items/s)".to_owned(),
            Column::Bytes => "byte stream (MB/s)".to_owned(),
            Column::Fanout => format!("fan-out ×{fanout_connections} (µs)"),
            Column::Memory => "server KiB / idle conn".to_owned(),
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Column::P50(_) | Column::P99(_) | Column::Memory => format!("{value:.1}"),
            Column::Throughput(_) | Column::Stream | Column::Bytes | Column::Fanout => {
                format!("{value:.0}")
            }
        }
    }
}

/// `64 B`, `1 KiB`, `64 KiB`, `1 MiB`.
pub fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// A column of the large-message table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LargeColumn {
    /// Median echo latency, µs, for the payload `LARGE_PAYLOADS[i]`.
    P50(usize),
    /// 99th-percentile echo latency, µs, for the payload `LARGE_PAYLOADS[i]`.
    P99(usize),
}

impl LargeColumn {
    /// Every column, in table order.
    pub const ALL: [LargeColumn; 4] = [
        LargeColumn::P50(0),
        LargeColumn::P99(0),
        LargeColumn::P50(1),
        LargeColumn::P99(1),
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in LargeColumn::ALL")
    }

    fn title(self) -> String {
        match self {
            LargeColumn::P50(i) => format!("p50 {} (µs)", size(LARGE_PAYLOADS[i])),
            LargeColumn::P99(i) => format!("p99 {} (µs)", size(LARGE_PAYLOADS[i])),
        }
    }
}

/// A column of the allocations table (64 B echo, one call at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocColumn {
    /// Allocations per call on the server's threads.
    ServerAllocations,
    /// Bytes allocated per call on the server's threads.
    ServerBytes,
    /// Allocations per call on the client's threads.
    ClientAllocations,
    /// Bytes allocated per call on the client's threads.
    ClientBytes,
}

impl AllocColumn {
    /// Every column, in table order.
    pub const ALL: [AllocColumn; 4] = [
        AllocColumn::ServerAllocations,
        AllocColumn::ServerBytes,
        AllocColumn::ClientAllocations,
        AllocColumn::ClientBytes,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in AllocColumn::ALL")
    }

    fn title(self) -> &'static str {
        match self {
            AllocColumn::ServerAllocations => "server allocs / call",
            AllocColumn::ServerBytes => "server B / call",
            AllocColumn::ClientAllocations => "client allocs / call",
            AllocColumn::ClientBytes => "client B / call",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            AllocColumn::ServerAllocations | AllocColumn::ClientAllocations => {
                format!("{value:.2}")
            }
            AllocColumn::ServerBytes | AllocColumn::ClientBytes => format!("{value:.0}"),
        }
    }
}

/// A measured column of the metrics table (64 B echo); each also gets a ratio column, relative to
/// the `hardlight_metrics_off` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsColumn {
    /// Median latency, µs, one call at a time.
    P50,
    /// 99th-percentile latency, µs, one call at a time.
    P99,
    /// Calls per second with [`METRICS_IN_FLIGHT`] calls in flight on one connection.
    Throughput,
}

/// Calls in flight of the metrics table's throughput column.
pub const METRICS_IN_FLIGHT: usize = 256;

impl MetricsColumn {
    /// Every measured column, in table order.
    pub const ALL: [MetricsColumn; 3] = [
        MetricsColumn::P50,
        MetricsColumn::P99,
        MetricsColumn::Throughput,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in MetricsColumn::ALL")
    }

    fn title(self) -> String {
        match self {
            MetricsColumn::P50 => "p50 64 B (µs)".to_owned(),
            MetricsColumn::P99 => "p99 64 B (µs)".to_owned(),
            MetricsColumn::Throughput => format!("c{METRICS_IN_FLIGHT} (calls/s)"),
        }
    }

    fn ratio_title(self) -> &'static str {
        match self {
            MetricsColumn::P50 => "p50 vs off",
            MetricsColumn::P99 => "p99 vs off",
            MetricsColumn::Throughput => "calls/s vs off",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            MetricsColumn::P50 | MetricsColumn::P99 => format!("{value:.1}"),
            MetricsColumn::Throughput => format!("{value:.0}"),
        }
    }
}

/// A measured column of the many-connections table (64 B echo, calls/s); the table adds a ratio
/// column, active beside idle over active alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionsColumn {
    /// Calls per second over the busy connections (server on this process's server runtime).
    Busy,
    /// Calls per second of the active connections alone (server in a child process).
    ActiveAlone,
    /// Calls per second of the same active connections with the idle ones open.
    ActiveWithIdle,
}

impl ConnectionsColumn {
    /// Every measured column, in table order.
    pub const ALL: [ConnectionsColumn; 3] = [
        ConnectionsColumn::Busy,
        ConnectionsColumn::ActiveAlone,
        ConnectionsColumn::ActiveWithIdle,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in ConnectionsColumn::ALL")
    }

    fn title(self, shapes: &Shapes) -> String {
        let n = shapes.calls_per_connection;
        match self {
            ConnectionsColumn::Busy => format!("{} conns × {n} (calls/s)", shapes.many_connections),
            ConnectionsColumn::ActiveAlone => {
                format!("{} active × {n} (calls/s)", shapes.active_connections)
            }
            ConnectionsColumn::ActiveWithIdle => format!(
                "{} active × {n} + {} idle (calls/s)",
                shapes.active_connections, shapes.idle_beside_active
            ),
        }
    }
}

/// A column of the fan-out-to-many table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastColumn {
    /// Median µs until the last subscriber has one event.
    LastUs,
    /// Events delivered per second in a burst (subscribers × events / time).
    EventsPerSecond,
}

impl BroadcastColumn {
    /// Every column, in table order.
    pub const ALL: [BroadcastColumn; 2] =
        [BroadcastColumn::LastUs, BroadcastColumn::EventsPerSecond];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in BroadcastColumn::ALL")
    }

    fn title(self, shapes: &Shapes) -> String {
        match self {
            BroadcastColumn::LastUs => {
                format!("fan-out ×{} (µs)", shapes.fanout_many_connections)
            }
            BroadcastColumn::EventsPerSecond => {
                format!("burst of {} (events/s delivered)", shapes.fanout_burst)
            }
        }
    }
}

/// A row of the across-servers table: where the client that receives events emitted on server A is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsRow {
    /// A client of server A, the server that emits.
    Local,
    /// A client of server B, bridged to server A through NATS.
    Bridged,
}

impl NatsRow {
    /// Every row, in table order.
    pub const ALL: [NatsRow; 2] = [NatsRow::Local, NatsRow::Bridged];

    /// The row's name in the table.
    pub fn name(self) -> &'static str {
        match self {
            NatsRow::Local => "hardlight",
            NatsRow::Bridged => "hardlight_nats",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&r| r == self)
            .expect("every row is listed in NatsRow::ALL")
    }
}

/// A column of the across-servers table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsColumn {
    /// Events per second from the first publish to the last arrival.
    EventsPerSecond,
    /// Median µs from publish to arrival, one event at a time.
    P50,
    /// 99th-percentile µs from publish to arrival, one event at a time.
    P99,
}

impl NatsColumn {
    /// Every column, in table order.
    pub const ALL: [NatsColumn; 3] = [
        NatsColumn::EventsPerSecond,
        NatsColumn::P50,
        NatsColumn::P99,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .expect("every column is listed in NatsColumn::ALL")
    }

    fn title(self) -> &'static str {
        match self {
            NatsColumn::EventsPerSecond => "events/s",
            NatsColumn::P50 => "p50 (µs)",
            NatsColumn::P99 => "p99 (µs)",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            NatsColumn::EventsPerSecond => format!("{value:.0}"),
            NatsColumn::P50 | NatsColumn::P99 => format!("{value:.1}"),
        }
    }
}

/// The counts the tables of the shapes real servers see are titled with (many connections,
/// scaling, fan-out to many, across servers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shapes {
    /// Busy connections (and the scaling table's connections).
    pub many_connections: usize,
    /// Calls in flight per busy or active connection.
    pub calls_per_connection: usize,
    /// Active connections.
    pub active_connections: usize,
    /// Idle connections beside the active ones.
    pub idle_beside_active: usize,
    /// Subscribers of the fan-out to many.
    pub fanout_many_connections: usize,
    /// Events per burst of the fan-out to many.
    pub fanout_burst: usize,
    /// Worker counts of the scaling table's columns.
    pub scale_workers: Vec<usize>,
    /// Events of the across-servers events/s figure.
    pub nats_events: u64,
    /// Latency samples of the across-servers table.
    pub nats_samples: u64,
}

impl Default for Shapes {
    /// The full run's counts.
    fn default() -> Self {
        Self {
            many_connections: 1_000,
            calls_per_connection: 8,
            active_connections: 100,
            idle_beside_active: 10_000,
            fanout_many_connections: 10_000,
            fanout_burst: 20,
            scale_workers: vec![1, 2],
            nats_events: 100_000,
            nats_samples: 1_000,
        }
    }
}

/// A cell's value, if it was measured.
fn value(figure: Figure) -> Option<f64> {
    match figure {
        Figure::Value(v) => Some(v),
        _ => None,
    }
}

/// A cell that holds no value: `n/a`, `error` or `skipped`.
fn missing(figure: Figure) -> String {
    match figure {
        Figure::Value(_) | Figure::NotApplicable => "n/a".to_owned(),
        Figure::Failed => "error".to_owned(),
        Figure::Skipped => "skipped".to_owned(),
    }
}

/// Writes a table's first two lines: `system`, then a right-aligned column for each title.
fn write_head<T: AsRef<str>>(out: &mut String, titles: &[T]) {
    let titles: Vec<&str> = titles.iter().map(AsRef::as_ref).collect();
    let _ = writeln!(out, "| system | {} |", titles.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(titles.len()));
}

/// Writes one row of a table.
fn write_row(out: &mut String, name: &str, cells: &[String]) {
    let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
}

/// A cell for each figure: a whole number, or what stands for a missing figure.
fn whole_cells(figures: &[Figure]) -> impl Iterator<Item = String> + '_ {
    figures.iter().map(|figure| match figure {
        Figure::Value(v) => format!("{v:.0}"),
        other => missing(*other),
    })
}

/// Why a ratio of `figures` cannot be given: the first of them that is not a value.
fn first_missing(figures: &[Figure]) -> Figure {
    figures
        .iter()
        .copied()
        .find(|f| !matches!(f, Figure::Value(_)))
        .unwrap_or(Figure::NotApplicable)
}

/// Every figure of a run, and the lines that say how it was run.
#[derive(Debug, Clone)]
pub struct Report {
    header: Vec<String>,
    fanout_connections: usize,
    rows: Vec<(System, [Figure; Column::ALL.len()])>,
    large: Vec<(System, [Figure; LargeColumn::ALL.len()])>,
    allocs: Vec<(System, [Figure; AllocColumn::ALL.len()])>,
    metrics: Vec<(MetricsSetup, [Figure; MetricsColumn::ALL.len()])>,
    shapes: Shapes,
    connections: Vec<(System, [Figure; ConnectionsColumn::ALL.len()])>,
    scaling: Vec<(System, Vec<Figure>)>,
    broadcast: Vec<(System, [Figure; BroadcastColumn::ALL.len()])>,
    nats: [[Figure; NatsColumn::ALL.len()]; NatsRow::ALL.len()],
    /// Why the across-servers table could not be measured (its cells show `n/a (why)`).
    nats_unavailable: Option<String>,
}

impl Report {
    /// An empty report (every figure [`Figure::Failed`] until set) whose header is `header`.
    pub fn new(header: Vec<String>, fanout_connections: usize) -> Self {
        Self {
            header,
            fanout_connections,
            rows: System::ALL
                .into_iter()
                .map(|system| (system, [Figure::Failed; Column::ALL.len()]))
                .collect(),
            large: System::LARGE
                .into_iter()
                .map(|system| (system, [Figure::Failed; LargeColumn::ALL.len()]))
                .collect(),
            allocs: System::ALL
                .into_iter()
                .map(|system| (system, [Figure::Failed; AllocColumn::ALL.len()]))
                .collect(),
            metrics: MetricsSetup::ALL
                .into_iter()
                .map(|setup| (setup, [Figure::Failed; MetricsColumn::ALL.len()]))
                .collect(),
            shapes: Shapes::default(),
            connections: System::SHAPES
                .into_iter()
                .map(|system| (system, [Figure::Failed; ConnectionsColumn::ALL.len()]))
                .collect(),
            scaling: Vec::new(),
            broadcast: System::SHAPES
                .into_iter()
                .map(|system| (system, [Figure::Failed; BroadcastColumn::ALL.len()]))
                .collect(),
            nats: [[Figure::Failed; NatsColumn::ALL.len()]; NatsRow::ALL.len()],
            nats_unavailable: None,
        }
        .with_shapes(Shapes::default())
    }

    /// This report with the tables of the shapes titled with `shapes`' counts (and one scaling
    /// column per worker count), their figures cleared.
    pub fn with_shapes(mut self, shapes: Shapes) -> Self {
        let columns = shapes.scale_workers.len();
        self.scaling = System::SHAPES
            .into_iter()
            .map(|system| (system, vec![Figure::Failed; columns]))
            .collect();
        for (_, figures) in &mut self.connections {
            figures.fill(Figure::Failed);
        }
        for (_, figures) in &mut self.broadcast {
            figures.fill(Figure::Failed);
        }
        self.shapes = shapes;
        self
    }

    /// Marks the rows of the many-connections, scaling and fan-out-to-many tables of the systems
    /// `connections`, `scaling` and `broadcast` do not select [`Figure::Skipped`].
    pub fn skip_shapes(
        &mut self,
        connections: impl Fn(System) -> bool,
        scaling: impl Fn(System) -> bool,
        broadcast: impl Fn(System) -> bool,
    ) {
        for (system, figures) in &mut self.connections {
            if !connections(*system) {
                figures.fill(Figure::Skipped);
            }
        }
        for (system, figures) in &mut self.scaling {
            if !scaling(*system) {
                figures.fill(Figure::Skipped);
            }
        }
        for (system, figures) in &mut self.broadcast {
            if !broadcast(*system) {
                figures.fill(Figure::Skipped);
            }
        }
    }

    /// Sets one cell of the many-connections table.
    pub fn set_connections(&mut self, system: System, column: ConnectionsColumn, figure: Figure) {
        if let Some((_, figures)) = self.connections.iter_mut().find(|(s, _)| *s == system) {
            figures[column.index()] = figure;
        }
    }

    /// One cell's value in the many-connections table, if it was measured.
    pub fn connections_value(&self, system: System, column: ConnectionsColumn) -> Option<f64> {
        self.connections
            .iter()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| value(figures[column.index()]))
    }

    /// The active connections' calls/s beside the idle ones over their calls/s alone.
    pub fn idle_ratio(&self, system: System) -> Option<f64> {
        Some(
            self.connections_value(system, ConnectionsColumn::ActiveWithIdle)?
                / self.connections_value(system, ConnectionsColumn::ActiveAlone)?,
        )
    }

    /// Sets the scaling table's cell for `scale_workers[i]` workers.
    pub fn set_scaling(&mut self, system: System, i: usize, figure: Figure) {
        if let Some(cell) = self
            .scaling
            .iter_mut()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| figures.get_mut(i))
        {
            *cell = figure;
        }
    }

    /// The scaling table's value for `scale_workers[i]` workers, if it was measured.
    pub fn scaling_value(&self, system: System, i: usize) -> Option<f64> {
        self.scaling
            .iter()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| value(*figures.get(i)?))
    }

    /// Sets one cell of the fan-out-to-many table.
    pub fn set_broadcast(&mut self, system: System, column: BroadcastColumn, figure: Figure) {
        if let Some((_, figures)) = self.broadcast.iter_mut().find(|(s, _)| *s == system) {
            figures[column.index()] = figure;
        }
    }

    /// One cell's value in the fan-out-to-many table, if it was measured.
    pub fn broadcast_value(&self, system: System, column: BroadcastColumn) -> Option<f64> {
        self.broadcast
            .iter()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| value(figures[column.index()]))
    }

    /// Sets one cell of the across-servers table.
    pub fn set_nats(&mut self, row: NatsRow, column: NatsColumn, figure: Figure) {
        self.nats[row.index()][column.index()] = figure;
    }

    /// One cell's value in the across-servers table, if it was measured.
    pub fn nats_value(&self, row: NatsRow, column: NatsColumn) -> Option<f64> {
        value(self.nats[row.index()][column.index()])
    }

    /// The latency the bridge adds to an event: the bridged row's p50 minus the local row's, µs.
    pub fn nats_added_us(&self) -> Option<f64> {
        Some(
            self.nats_value(NatsRow::Bridged, NatsColumn::P50)?
                - self.nats_value(NatsRow::Local, NatsColumn::P50)?,
        )
    }

    /// Marks every figure of the across-servers table [`Figure::Skipped`].
    pub fn skip_nats(&mut self) {
        for figures in &mut self.nats {
            figures.fill(Figure::Skipped);
        }
    }

    /// Marks every figure of the across-servers table [`Figure::NotApplicable`], the cells saying
    /// `n/a (why)`: it could not be measured here (no `nats-server`), and that is no failure.
    pub fn nats_unavailable(&mut self, why: impl Into<String>) {
        for figures in &mut self.nats {
            figures.fill(Figure::NotApplicable);
        }
        self.nats_unavailable = Some(why.into());
    }

    /// Sets one cell of the metrics table.
    pub fn set_metrics(&mut self, setup: MetricsSetup, column: MetricsColumn, figure: Figure) {
        if let Some((_, figures)) = self.metrics.iter_mut().find(|(s, _)| *s == setup) {
            figures[column.index()] = figure;
        }
    }

    /// One cell of the metrics table.
    fn metrics_figure(&self, setup: MetricsSetup, column: MetricsColumn) -> Figure {
        self.metrics
            .iter()
            .find(|(s, _)| *s == setup)
            .map_or(Figure::Failed, |(_, figures)| figures[column.index()])
    }

    /// One cell's value in the metrics table, if it was measured.
    pub fn metrics_value(&self, setup: MetricsSetup, column: MetricsColumn) -> Option<f64> {
        match self.metrics_figure(setup, column) {
            Figure::Value(v) => Some(v),
            _ => None,
        }
    }

    /// `setup`'s figure divided by `hardlight_metrics_off`'s, in one column of the metrics table.
    pub fn metrics_ratio(&self, setup: MetricsSetup, column: MetricsColumn) -> Option<f64> {
        Some(self.metrics_value(setup, column)? / self.metrics_value(MetricsSetup::Off, column)?)
    }

    /// Marks every figure of the metrics table [`Figure::Skipped`].
    pub fn skip_metrics(&mut self) {
        for (_, figures) in &mut self.metrics {
            figures.fill(Figure::Skipped);
        }
    }

    /// Sets one cell of the allocations table.
    pub fn set_allocs(&mut self, system: System, column: AllocColumn, figure: Figure) {
        if let Some((_, figures)) = self.allocs.iter_mut().find(|(s, _)| *s == system) {
            figures[column.index()] = figure;
        }
    }

    /// One cell's value in the allocations table, if it was measured.
    pub fn allocs_value(&self, system: System, column: AllocColumn) -> Option<f64> {
        self.allocs
            .iter()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| match figures[column.index()] {
                Figure::Value(v) => Some(v),
                _ => None,
            })
    }

    /// Sets one cell of the large-message table.
    pub fn set_large(&mut self, system: System, column: LargeColumn, figure: Figure) {
        if let Some((_, figures)) = self.large.iter_mut().find(|(s, _)| *s == system) {
            figures[column.index()] = figure;
        }
    }

    /// One cell's value in the large-message table, if it was measured.
    pub fn large_value(&self, system: System, column: LargeColumn) -> Option<f64> {
        self.large
            .iter()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| match figures[column.index()] {
                Figure::Value(v) => Some(v),
                _ => None,
            })
    }

    /// `a`'s figure divided by `b`'s, in one column of the large-message table.
    pub fn large_ratio(&self, a: System, b: System, column: LargeColumn) -> Option<f64> {
        Some(self.large_value(a, column)? / self.large_value(b, column)?)
    }

    /// Sets one cell.
    pub fn set(&mut self, system: System, column: Column, figure: Figure) {
        if let Some((_, figures)) = self.rows.iter_mut().find(|(s, _)| *s == system) {
            figures[column.index()] = figure;
        }
    }

    /// One cell's value, if it was measured.
    pub fn value(&self, system: System, column: Column) -> Option<f64> {
        self.rows
            .iter()
            .find(|(s, _)| *s == system)
            .and_then(|(_, figures)| match figures[column.index()] {
                Figure::Value(v) => Some(v),
                _ => None,
            })
    }

    /// Marks every figure `skipped` selects (by system and column) as [`Figure::Skipped`], and the
    /// rows of the large and allocations tables of the systems `large` and `allocs` do not select.
    pub fn skip(
        &mut self,
        skipped: impl Fn(System, Column) -> bool,
        large: impl Fn(System) -> bool,
        allocs: impl Fn(System) -> bool,
    ) {
        for (system, figures) in &mut self.allocs {
            if !allocs(*system) {
                figures.fill(Figure::Skipped);
            }
        }
        for (system, figures) in &mut self.rows {
            for (figure, column) in figures.iter_mut().zip(Column::ALL) {
                if skipped(*system, column) {
                    *figure = Figure::Skipped;
                }
            }
        }
        for (system, figures) in &mut self.large {
            if !large(*system) {
                figures.fill(Figure::Skipped);
            }
        }
    }

    /// True if no figure failed.
    pub fn is_complete(&self) -> bool {
        let complete = |figures: &[Figure]| !figures.contains(&Figure::Failed);
        self.rows.iter().all(|(_, figures)| complete(figures))
            && self.large.iter().all(|(_, figures)| complete(figures))
            && self.allocs.iter().all(|(_, figures)| complete(figures))
            && self.metrics.iter().all(|(_, figures)| complete(figures))
            && self
                .connections
                .iter()
                .all(|(_, figures)| complete(figures))
            && self.scaling.iter().all(|(_, figures)| complete(figures))
            && self.broadcast.iter().all(|(_, figures)| complete(figures))
            && self.nats.iter().all(|figures| complete(figures))
    }

    /// `a`'s figure divided by `b`'s, in one column.
    pub fn ratio(&self, a: System, b: System, column: Column) -> Option<f64> {
        Some(self.value(a, column)? / self.value(b, column)?)
    }

    /// The whole report: header, table, targets, then the three ratio lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
        self.render_table(&mut out);
        out.push('\n');
        self.render_large(&mut out);
        out.push('\n');
        self.render_allocs(&mut out);
        out.push('\n');
        self.render_metrics(&mut out);
        out.push('\n');
        self.render_connections(&mut out);
        out.push('\n');
        self.render_scaling(&mut out);
        out.push('\n');
        self.render_broadcast(&mut out);
        out.push('\n');
        self.render_nats(&mut out);
        out.push('\n');
        self.render_targets(&mut out);
        out.push('\n');
        for (name, a, b, column) in self.ratios() {
            let value = self
                .ratio(a, b, column)
                .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
            let _ = writeln!(out, "ratio {name} {}/{}: {value}", a.name(), b.name());
        }
        out
    }

    fn ratios(&self) -> [(&'static str, System, System, Column); 3] {
        [
            (
                "unary_p50_64B",
                System::Hardlight,
                System::Tonic,
                Column::P50(0),
            ),
            (
                "unary_p50_64B",
                System::Hardlight,
                System::RawWs,
                Column::P50(0),
            ),
            (
                "c256_throughput",
                System::Hardlight,
                System::Tonic,
                Column::Throughput(2),
            ),
        ]
    }

    fn render_table(&self, out: &mut String) {
        let titles: Vec<String> = Column::ALL
            .iter()
            .map(|c| c.title(self.fanout_connections))
            .collect();
        write_head(out, &titles);
        for (system, figures) in &self.rows {
            let cells: Vec<String> = Column::ALL
                .iter()
                .zip(figures)
                .map(|(column, figure)| match figure {
                    Figure::Value(v) => column.format(*v),
                    other => missing(*other),
                })
                .collect();
            write_row(out, system.name(), &cells);
        }
    }

    fn render_large(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "large messages: echo latency, one call at a time; `hardlight_views` declares the echo \
             with `Archived<Vec<u8>>` (zero-copy views)"
        );
        out.push('\n');
        let titles: Vec<String> = LargeColumn::ALL.iter().map(|c| c.title()).collect();
        write_head(out, &titles);
        for (system, figures) in &self.large {
            let cells: Vec<String> = figures
                .iter()
                .map(|figure| match figure {
                    Figure::Value(v) => format!("{v:.1}"),
                    other => missing(*other),
                })
                .collect();
            write_row(out, system.name(), &cells);
        }
    }

    fn render_allocs(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "allocations per call: 64 B echo, one call at a time, counted by the global allocator \
             on the server's and the client's threads (the client's include the benchmark's copy of \
             the payload into each call)"
        );
        out.push('\n');
        let titles: Vec<&str> = AllocColumn::ALL.iter().map(|c| c.title()).collect();
        write_head(out, &titles);
        for (system, figures) in &self.allocs {
            let cells: Vec<String> = AllocColumn::ALL
                .iter()
                .zip(figures)
                .map(|(column, figure)| match figure {
                    Figure::Value(v) => column.format(*v),
                    other => missing(*other),
                })
                .collect();
            write_row(out, system.name(), &cells);
        }
    }

    fn render_metrics(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "metrics: what recording costs, hardlight over ws://, 64 B echo (latency one call at a \
             time, throughput with {METRICS_IN_FLIGHT} calls in flight on one connection); \
             `hardlight_metrics_off`: `ServerConfig`/`ClientConfig::metrics(false)`; `hardlight`: \
             metrics on (the default) with no recorder installed (these two measured three times \
             each, alternately, medians); `hardlight_prometheus`: a Prometheus recorder \
             installed (measured last, on a fresh server and client); \
             \"vs off\" divides by the `hardlight_metrics_off` row (latency: above 1.00 is slower; \
             calls/s: below 1.00 is slower)"
        );
        out.push('\n');
        let titles: Vec<String> = MetricsColumn::ALL
            .iter()
            .map(|c| c.title())
            .chain(
                MetricsColumn::ALL
                    .iter()
                    .map(|c| c.ratio_title().to_owned()),
            )
            .collect();
        write_head(out, &titles);
        for (setup, figures) in &self.metrics {
            let values =
                MetricsColumn::ALL
                    .iter()
                    .zip(figures)
                    .map(|(column, figure)| match figure {
                        Figure::Value(v) => column.format(*v),
                        other => missing(*other),
                    });
            let ratios = MetricsColumn::ALL
                .iter()
                .zip(figures)
                .map(
                    |(column, figure)| match self.metrics_ratio(*setup, *column) {
                        Some(r) => format!("{r:.2}"),
                        None => missing(*figure),
                    },
                );
            let cells: Vec<String> = values.chain(ratios).collect();
            write_row(out, setup.name(), &cells);
        }
    }

    fn render_connections(&self, out: &mut String) {
        let shapes = &self.shapes;
        let _ = writeln!(
            out,
            "many connections: 64 B echo, {} calls in flight per connection (tonic: a channel per \
             connection; raw ws: pipelined), calls/s; the busy connections' server runs on this \
             process's server runtime; the active connections' in a child process, which holds \
             the idle connections' server ends; \"idle / alone\" divides the active connections' \
             calls/s beside the idle ones by theirs alone (below 1.00: the idle ones slow them)",
            shapes.calls_per_connection
        );
        out.push('\n');
        let titles: Vec<String> = ConnectionsColumn::ALL
            .iter()
            .map(|c| c.title(shapes))
            .chain(["idle / alone".to_owned()])
            .collect();
        write_head(out, &titles);
        for (system, figures) in &self.connections {
            let ratio = match self.idle_ratio(*system) {
                Some(r) => format!("{r:.2}"),
                None => missing(first_missing(figures)),
            };
            let cells: Vec<String> = whole_cells(figures).chain([ratio]).collect();
            write_row(out, system.name(), &cells);
        }
    }

    fn render_scaling(&self, out: &mut String) {
        let shapes = &self.shapes;
        let _ = writeln!(
            out,
            "scaling with cores: calls/s over {} connections × {} calls in flight (64 B echo) with \
             N worker threads on the server (in a child process) and N on the client, threads \
             spread over every CPU; \"×\" divides the last column by the first",
            shapes.many_connections, shapes.calls_per_connection
        );
        out.push('\n');
        let last = shapes.scale_workers.len().saturating_sub(1);
        let titles: Vec<String> = shapes
            .scale_workers
            .iter()
            .map(|n| format!("{n} worker{} (calls/s)", if *n == 1 { "" } else { "s" }))
            .chain([format!(
                "× ({} vs {})",
                shapes.scale_workers.last().copied().unwrap_or(1),
                shapes.scale_workers.first().copied().unwrap_or(1)
            )])
            .collect();
        write_head(out, &titles);
        for (system, figures) in &self.scaling {
            let ratio = match (
                self.scaling_value(*system, 0),
                self.scaling_value(*system, last),
            ) {
                (Some(first), Some(last)) => format!("{:.2}", last / first),
                _ => missing(first_missing(figures)),
            };
            let cells: Vec<String> = whole_cells(figures).chain([ratio]).collect();
            write_row(out, system.name(), &cells);
        }
    }

    fn render_broadcast(&self, out: &mut String) {
        let shapes = &self.shapes;
        let _ = writeln!(
            out,
            "fan-out to many: one event to {} subscribed connections of a server in a child \
             process, median µs from the publish command until the last subscriber has it; \
             events/s delivered: subscribers × {} events published back to back, over the time \
             until every subscriber has all of them (raw ws: the same tick, sequence number and \
             label, as one binary message to each socket)",
            shapes.fanout_many_connections, shapes.fanout_burst
        );
        out.push('\n');
        let titles: Vec<String> = BroadcastColumn::ALL
            .iter()
            .map(|c| c.title(shapes))
            .collect();
        write_head(out, &titles);
        for (system, figures) in &self.broadcast {
            let cells: Vec<String> = whole_cells(figures).collect();
            write_row(out, system.name(), &cells);
        }
    }

    fn render_nats(&self, out: &mut String) {
        let shapes = &self.shapes;
        let _ = writeln!(
            out,
            "across servers: events emitted on hardlight server A, received by a client of A \
             (`hardlight`) or of server B, bridged to A through a local `nats-server` \
             (`hardlight_nats`); events/s: {} events, at most {} in flight, from the first \
             publish to the last arrival; p50/p99: µs from publish to arrival, one event at a \
             time, {} samples",
            shapes.nats_events,
            crate::measure::nats::WINDOW,
            shapes.nats_samples
        );
        out.push('\n');
        let titles: Vec<&str> = NatsColumn::ALL.iter().map(|c| c.title()).collect();
        write_head(out, &titles);
        let cell = |figure: Figure| match (figure, &self.nats_unavailable) {
            (Figure::NotApplicable, Some(why)) => format!("n/a ({why})"),
            (other, _) => missing(other),
        };
        for (row, figures) in NatsRow::ALL.iter().zip(&self.nats) {
            let cells: Vec<String> = NatsColumn::ALL
                .iter()
                .zip(figures)
                .map(|(column, figure)| match figure {
                    Figure::Value(v) => column.format(*v),
                    other => cell(*other),
                })
                .collect();
            write_row(out, row.name(), &cells);
        }
        out.push('\n');
        let added = match self.nats_added_us() {
            Some(us) => format!("{us:.1} µs"),
            None => cell(
                self.nats
                    .iter()
                    .flat_map(|figures| figures.iter().copied())
                    .find(|f| !matches!(f, Figure::Value(_)))
                    .unwrap_or(Figure::NotApplicable),
            ),
        };
        let _ = writeln!(
            out,
            "added latency per event across servers (hardlight_nats p50 − hardlight p50): {added}"
        );
    }

    /// The targets for plaintext hardlight, each met or missed, and by how much.
    fn render_targets(&self, out: &mut String) {
        let _ = writeln!(out, "targets (plaintext hardlight):");
        let targets = [
            (
                "unary p50 64 B ≤ 0.50 × tonic",
                self.ratio(System::Hardlight, System::Tonic, Column::P50(0)),
                0.50,
                true,
            ),
            (
                "unary p50 64 B ≤ 1.30 × raw ws",
                self.ratio(System::Hardlight, System::RawWs, Column::P50(0)),
                1.30,
                true,
            ),
            (
                "c256 throughput ≥ 5.00 × tonic",
                self.ratio(System::Hardlight, System::Tonic, Column::Throughput(2)),
                5.00,
                false,
            ),
            (
                "c256 throughput ≥ 0.50 × raw ws",
                self.ratio(System::Hardlight, System::RawWs, Column::Throughput(2)),
                0.50,
                false,
            ),
            (
                "stream items/s ≥ 2.00 × tonic",
                self.ratio(System::Hardlight, System::Tonic, Column::Stream),
                2.00,
                false,
            ),
            (
                "byte stream MB/s ≥ 0.80 × raw ws",
                self.ratio(System::Hardlight, System::RawWs, Column::Bytes),
                0.80,
                false,
            ),
            (
                "server allocations per 64 B call ≤ 2",
                self.allocs_value(System::Hardlight, AllocColumn::ServerAllocations),
                2.0,
                true,
            ),
            (
                "client allocations per 64 B call ≤ 2",
                self.allocs_value(System::Hardlight, AllocColumn::ClientAllocations),
                2.0,
                true,
            ),
            (
                "server memory ≤ 32.0 KiB per idle connection",
                self.value(System::Hardlight, Column::Memory),
                32.0,
                true,
            ),
        ];
        let views = |i: usize| {
            (
                format!("view echo p50 {} ≤ 1.10 × raw ws", size(LARGE_PAYLOADS[i])),
                self.large_ratio(System::HardlightViews, System::RawWs, LargeColumn::P50(i)),
                1.10,
                true,
            )
        };
        let broadcast = (
            format!(
                "fan-out ×{} time ≤ 1.20 × raw ws",
                self.shapes.fanout_many_connections
            ),
            self.broadcast_value(System::Hardlight, BroadcastColumn::LastUs)
                .zip(self.broadcast_value(System::RawWs, BroadcastColumn::LastUs))
                .map(|(hardlight, raw)| hardlight / raw),
            1.20,
            true,
        );
        let targets = targets
            .into_iter()
            .map(|(what, value, limit, at_most)| (what.to_owned(), value, limit, at_most))
            .chain([views(0), views(1), broadcast]);
        for (what, value, limit, at_most) in targets {
            let verdict = match value {
                None => "not measured".to_owned(),
                Some(v) if (at_most && v <= limit) || (!at_most && v >= limit) => {
                    format!("met ({v:.2})")
                }
                Some(v) => format!(
                    "missed ({v:.2}, off by {:.0}%)",
                    (v / limit - 1.0).abs() * 100.0
                ),
            };
            let _ = writeln!(out, "- {what}: {verdict}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut report = Report::new(vec!["# header".into()], 1000);
        for system in System::ALL {
            for column in Column::ALL {
                report.set(system, column, Figure::Value(10.0));
            }
        }
        for system in System::LARGE {
            for column in LargeColumn::ALL {
                report.set_large(system, column, Figure::Value(1000.0));
            }
        }
        report.set_large(
            System::HardlightViews,
            LargeColumn::P50(1),
            Figure::Value(1200.0),
        );
        for system in System::ALL {
            for (column, value) in AllocColumn::ALL.into_iter().zip([3.0, 1500.0, 2.0, 300.0]) {
                report.set_allocs(system, column, Figure::Value(value));
            }
        }
        report.set(System::Hardlight, Column::P50(0), Figure::Value(20.0));
        report.set(System::Tonic, Column::P50(0), Figure::Value(40.0));
        report.set(System::RawWs, Column::P50(0), Figure::Value(16.0));
        report.set(
            System::Hardlight,
            Column::Throughput(2),
            Figure::Value(50_000.0),
        );
        report.set(
            System::Tonic,
            Column::Throughput(2),
            Figure::Value(20_000.0),
        );
        report.set(System::Hardlight, Column::Stream, Figure::Value(900_000.0));
        report.set(System::Tonic, Column::Stream, Figure::Value(300_000.0));
        let metrics = [
            (MetricsSetup::Off, [20.0, 40.0, 100_000.0]),
            (MetricsSetup::NoRecorder, [20.2, 40.0, 99_000.0]),
            (MetricsSetup::Prometheus, [25.0, 50.0, 80_000.0]),
        ];
        for (setup, values) in metrics {
            for (column, value) in MetricsColumn::ALL.into_iter().zip(values) {
                report.set_metrics(setup, column, Figure::Value(value));
            }
        }
        let shapes = [
            (
                System::Hardlight,
                [200_000.0, 100_000.0, 95_000.0],
                [150_000.0, 240_000.0],
                [6000.0, 2_000_000.0],
            ),
            (
                System::Tonic,
                [40_000.0, 30_000.0, 24_000.0],
                [40_000.0, 60_000.0],
                [9000.0, 1_000_000.0],
            ),
            (
                System::RawWs,
                [900_000.0, 800_000.0, 800_000.0],
                [900_000.0, 1_800_000.0],
                [5000.0, 3_000_000.0],
            ),
        ];
        for (system, connections, scaling, broadcast) in shapes {
            for (column, value) in ConnectionsColumn::ALL.into_iter().zip(connections) {
                report.set_connections(system, column, Figure::Value(value));
            }
            for (i, value) in scaling.into_iter().enumerate() {
                report.set_scaling(system, i, Figure::Value(value));
            }
            for (column, value) in BroadcastColumn::ALL.into_iter().zip(broadcast) {
                report.set_broadcast(system, column, Figure::Value(value));
            }
        }
        let nats = [
            (NatsRow::Local, [500_000.0, 7.5, 50.25]),
            (NatsRow::Bridged, [300_000.0, 23.0, 60.0]),
        ];
        for (row, values) in nats {
            for (column, value) in NatsColumn::ALL.into_iter().zip(values) {
                report.set_nats(row, column, Figure::Value(value));
            }
        }
        report
    }

    #[test]
    fn nats_table_has_both_rows_and_the_added_latency() {
        let rendered = sample().render();
        assert!(rendered.contains("| system | events/s | p50 (µs) | p99 (µs) |"));
        assert!(rendered.contains("| hardlight | 500000 | 7.5 | 50.2 |"));
        assert!(rendered.contains("| hardlight_nats | 300000 | 23.0 | 60.0 |"));
        assert!(rendered.contains(
            "added latency per event across servers (hardlight_nats p50 − hardlight p50): 15.5 µs"
        ));
        // After the fan-out-to-many table, before the targets.
        let caption = rendered.find("across servers: events emitted").unwrap();
        assert!(rendered.find("fan-out to many: one event").unwrap() < caption);
        assert!(caption < rendered.find("targets (plaintext hardlight):").unwrap());
        assert!(rendered.contains("events/s: 100000 events, at most 256 in flight"));

        // Without nats-server: every cell says why, and the run is still complete.
        let mut report = sample();
        report.nats_unavailable("nats-server not found");
        assert!(report.is_complete());
        let rendered = report.render();
        let na = "n/a (nats-server not found)";
        assert!(rendered.contains(&format!("| hardlight_nats | {na} | {na} | {na} |")));
        assert!(rendered.contains(&format!("hardlight p50): {na}")));

        // A failed figure fails the run; a skipped table says so.
        let mut report = sample();
        report.set_nats(NatsRow::Bridged, NatsColumn::P50, Figure::Failed);
        assert!(!report.is_complete());
        let rendered = report.render();
        assert!(rendered.contains("| hardlight_nats | 300000 | error | 60.0 |"));
        assert!(rendered.contains("hardlight p50): error"));
        report.skip_nats();
        assert!(report.is_complete());
        assert!(
            report
                .render()
                .contains("| hardlight_nats | skipped | skipped | skipped |")
        );
    }

    #[test]
    fn shape_tables_have_their_rows_ratios_and_target() {
        let rendered = sample().render();
        assert!(rendered.contains(
            "| system | 1000 conns × 8 (calls/s) | 100 active × 8 (calls/s) | 100 active × 8 + \
             10000 idle (calls/s) | idle / alone |"
        ));
        assert!(rendered.contains("| hardlight | 200000 | 100000 | 95000 | 0.95 |"));
        assert!(rendered.contains("| tonic | 40000 | 30000 | 24000 | 0.80 |"));
        assert!(
            rendered.contains("| system | 1 worker (calls/s) | 2 workers (calls/s) | × (2 vs 1) |")
        );
        assert!(rendered.contains("| hardlight | 150000 | 240000 | 1.60 |"));
        assert!(rendered.contains("| raw_ws | 900000 | 1800000 | 2.00 |"));
        assert!(
            rendered
                .contains("| system | fan-out ×10000 (µs) | burst of 20 (events/s delivered) |")
        );
        assert!(rendered.contains("| hardlight | 6000 | 2000000 |"));
        assert!(rendered.contains("- fan-out ×10000 time ≤ 1.20 × raw ws: met (1.20)"));
        // The captions say what each table measures, and come in this order, after the metrics.
        let captions = [
            "metrics: what recording costs",
            "many connections: 64 B echo",
            "scaling with cores:",
            "fan-out to many: one event to 10000",
            "across servers: events emitted",
            "targets (plaintext hardlight):",
        ]
        .map(|caption| rendered.find(caption).unwrap());
        assert!(captions.windows(2).all(|w| w[0] < w[1]));

        // Other counts and worker lists title the tables; a failed or skipped cell says so.
        let mut report = sample().with_shapes(Shapes {
            many_connections: 50,
            calls_per_connection: 8,
            active_connections: 10,
            idle_beside_active: 500,
            fanout_many_connections: 200,
            fanout_burst: 10,
            scale_workers: vec![1, 2, 4],
            nats_events: 2_000,
            nats_samples: 100,
        });
        assert!(!report.is_complete());
        report.set_broadcast(
            System::Hardlight,
            BroadcastColumn::LastUs,
            Figure::Value(1300.0),
        );
        report.set_broadcast(
            System::RawWs,
            BroadcastColumn::LastUs,
            Figure::Value(1000.0),
        );
        report.set_scaling(System::Hardlight, 0, Figure::Value(100.0));
        report.set_scaling(System::Hardlight, 2, Figure::Value(300.0));
        report.set_connections(
            System::Tonic,
            ConnectionsColumn::ActiveAlone,
            Figure::Value(1.0),
        );
        report.skip_shapes(|_| true, |s| s != System::Tonic, |s| s != System::Tonic);
        let rendered = report.render();
        assert!(rendered.contains("| system | 50 conns × 8 (calls/s) | 10 active × 8 (calls/s) |"));
        assert!(rendered.contains(
            "| 1 worker (calls/s) | 2 workers (calls/s) | 4 workers (calls/s) | × (4 vs 1) |"
        ));
        assert!(rendered.contains("| hardlight | 100 | error | 300 | 3.00 |"));
        assert!(rendered.contains("| tonic | skipped | skipped | skipped | skipped |"));
        assert!(rendered.contains("| tonic | error | 1 | error | error |"));
        assert!(rendered.contains("| tonic | skipped | skipped |"));
        assert!(rendered.contains("| hardlight | 1300 | error |"));
        assert!(rendered.contains("- fan-out ×200 time ≤ 1.20 × raw ws: missed (1.30, off by 8%)"));
        assert!(!report.is_complete());
        report.set_connections(System::RawWs, ConnectionsColumn::Busy, Figure::Failed);
        let mut missing = sample();
        missing.set_broadcast(System::RawWs, BroadcastColumn::LastUs, Figure::Failed);
        assert!(!missing.is_complete());
        assert!(
            missing
                .render()
                .contains("- fan-out ×10000 time ≤ 1.20 × raw ws: not measured")
        );
    }

    #[test]
    fn ends_with_the_three_ratio_lines() {
        let rendered = sample().render();
        let last: Vec<&str> = rendered.lines().rev().take(3).collect();
        assert_eq!(
            last,
            [
                "ratio c256_throughput hardlight/tonic: 2.50",
                "ratio unary_p50_64B hardlight/raw_ws: 1.25",
                "ratio unary_p50_64B hardlight/tonic: 0.50",
            ]
        );
    }

    #[test]
    fn table_has_a_row_per_system_and_a_cell_per_column() {
        let rendered = sample().render();
        let rows: Vec<&str> = rendered.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(
            rows.len(),
            2 + System::ALL.len()
                + 2
                + System::LARGE.len()
                + 2
                + System::ALL.len()
                + 2
                + MetricsSetup::ALL.len()
                + 3 * (2 + System::SHAPES.len())
                + 2
                + NatsRow::ALL.len()
        );
        let (main, rest) = rows.split_at(2 + System::ALL.len());
        let (large, rest) = rest.split_at(2 + System::LARGE.len());
        let (allocs, rest) = rest.split_at(2 + System::ALL.len());
        let (metrics, rest) = rest.split_at(2 + MetricsSetup::ALL.len());
        let (connections, rest) = rest.split_at(2 + System::SHAPES.len());
        let (scaling, rest) = rest.split_at(2 + System::SHAPES.len());
        let (broadcast, nats) = rest.split_at(2 + System::SHAPES.len());
        for row in nats {
            assert_eq!(row.matches('|').count(), NatsColumn::ALL.len() + 2, "{row}");
        }
        for row in connections {
            assert_eq!(
                row.matches('|').count(),
                ConnectionsColumn::ALL.len() + 3,
                "{row}"
            );
        }
        for row in scaling {
            assert_eq!(row.matches('|').count(), 2 + 3, "{row}");
        }
        for row in broadcast {
            assert_eq!(
                row.matches('|').count(),
                BroadcastColumn::ALL.len() + 2,
                "{row}"
            );
        }
        for row in allocs {
            assert_eq!(
                row.matches('|').count(),
                AllocColumn::ALL.len() + 2,
                "{row}"
            );
        }
        assert!(rendered.contains("| hardlight | 3.00 | 1500 | 2.00 | 300 |"));
        for row in metrics {
            assert_eq!(
                row.matches('|').count(),
                2 * MetricsColumn::ALL.len() + 2,
                "{row}"
            );
        }
        for row in main {
            assert_eq!(row.matches('|').count(), Column::ALL.len() + 2, "{row}");
        }
        for row in large {
            assert_eq!(
                row.matches('|').count(),
                LargeColumn::ALL.len() + 2,
                "{row}"
            );
        }
        assert!(rendered.contains("| p50 64 B (µs) |"));
        assert!(rendered.contains("fan-out ×1000 (µs)"));
        assert!(rendered.contains("| hardlight_views | 1000.0 | 1000.0 | 1200.0 | 1000.0 |"));
        assert!(rendered.contains("| p50 1 MiB (µs) |"));
    }

    #[test]
    fn metrics_table_has_each_setup_and_its_ratios_to_off() {
        let rendered = sample().render();
        assert!(rendered.contains(
            "| system | p50 64 B (µs) | p99 64 B (µs) | c256 (calls/s) | p50 vs off | p99 vs off \
             | calls/s vs off |"
        ));
        assert!(
            rendered
                .contains("| hardlight_metrics_off | 20.0 | 40.0 | 100000 | 1.00 | 1.00 | 1.00 |")
        );
        assert!(rendered.contains("| hardlight | 20.2 | 40.0 | 99000 | 1.01 | 1.00 | 0.99 |"));
        assert!(
            rendered
                .contains("| hardlight_prometheus | 25.0 | 50.0 | 80000 | 1.25 | 1.25 | 0.80 |")
        );
        // The caption comes before the table, after the large-message table.
        let caption = rendered.find("metrics: what recording costs").unwrap();
        assert!(rendered.find("large messages:").unwrap() < caption);
        assert!(caption < rendered.find("| hardlight_metrics_off |").unwrap());

        // Without the baseline a ratio is `n/a`; a skipped or failed row says so in every cell.
        let mut report = sample();
        report.set_metrics(MetricsSetup::Off, MetricsColumn::P50, Figure::Failed);
        report.set_metrics(
            MetricsSetup::Prometheus,
            MetricsColumn::Throughput,
            Figure::Failed,
        );
        assert!(!report.is_complete());
        let rendered = report.render();
        assert!(
            rendered.contains(
                "| hardlight_metrics_off | error | 40.0 | 100000 | error | 1.00 | 1.00 |"
            )
        );
        assert!(rendered.contains("| hardlight | 20.2 | 40.0 | 99000 | n/a | 1.00 | 0.99 |"));
        assert!(
            rendered
                .contains("| hardlight_prometheus | 25.0 | 50.0 | error | n/a | 1.25 | error |")
        );
        report.skip_metrics();
        assert!(
            report.render().contains(
                "| hardlight | skipped | skipped | skipped | skipped | skipped | skipped |"
            )
        );
    }

    #[test]
    fn failed_figures_show_and_make_the_report_incomplete() {
        let mut report = sample();
        assert!(report.is_complete());
        report.set(System::Tonic, Column::Fanout, Figure::Failed);
        report.set(System::Tonic, Column::Throughput(2), Figure::Failed);
        assert!(!report.is_complete());
        let mut large_failed = sample();
        large_failed.set_large(System::RawWs, LargeColumn::P99(1), Figure::Failed);
        assert!(!large_failed.is_complete());
        let mut allocs_failed = sample();
        allocs_failed.set_allocs(System::Tonic, AllocColumn::ClientBytes, Figure::Failed);
        assert!(!allocs_failed.is_complete());
        let rendered = report.render();
        assert!(rendered.contains("| error |"));
        assert!(rendered.ends_with("ratio c256_throughput hardlight/tonic: n/a\n"));
    }

    #[test]
    fn targets_say_met_or_missed() {
        let rendered = sample().render();
        assert!(rendered.contains("- unary p50 64 B ≤ 0.50 × tonic: met (0.50)"));
        assert!(rendered.contains("- c256 throughput ≥ 5.00 × tonic: missed (2.50, off by 50%)"));
        assert!(rendered.contains("- stream items/s ≥ 2.00 × tonic: met (3.00)"));
        assert!(rendered.contains("- c256 throughput ≥ 0.50 × raw ws: "));
        assert!(rendered.contains("- view echo p50 64 KiB ≤ 1.10 × raw ws: met (1.00)"));
        assert!(
            rendered.contains("- view echo p50 1 MiB ≤ 1.10 × raw ws: missed (1.20, off by 9%)")
        );
        assert!(
            rendered.contains("- server allocations per 64 B call ≤ 2: missed (3.00, off by 50%)")
        );
        assert!(rendered.contains("- client allocations per 64 B call ≤ 2: met (2.00)"));
    }
}
