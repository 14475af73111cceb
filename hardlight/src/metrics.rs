//! Metrics: what a server and a client record through the [`metrics`] facade, so that any exporter
//! the application installs (Prometheus, StatsD, OpenTelemetry through a bridge) receives them.
//!
//! hardlight installs no recorder. Handles are registered with the recorder installed when a server
//! first needs them (its first connection) and when a client makes its first call: install the
//! recorder before either. Without a recorder then, nothing is recorded and nothing is timed: the
//! calls cost what they cost with [`ServerConfig::metrics`](crate::ServerConfig::metrics) /
//! [`ClientConfig::metrics`](crate::ClientConfig::metrics) `(false)`. (The facade's no-op recorder
//! is told apart from a real one by its size: a recorder of zero size is taken for none.)
//!
//! The names follow Prometheus's conventions (a `hardlight_` prefix, `_total` for counters, base
//! units in the name: `_seconds`, `_bytes`); [`names`] lists them with their labels, as the README
//! does.

use metrics::{Counter, Gauge, Histogram, Unit};

/// Every metric's name, with its kind and labels.
pub mod names {
    /// Counter; `service`, `method`, `outcome`: calls answered by the server. `outcome` is
    /// the reply's status (`ok`, `handler_error`, `panicked`, `unknown_method`, `bad_arguments`,
    /// `internal`, `timed_out`, `cancelled`) or `aborted` (the connection ended or the server
    /// stopped before the reply). A streaming call counts once, when it ends. Calls to a method
    /// index the service does not have are counted with `method="<unknown>"`.
    pub const SERVER_CALLS: &str = "hardlight_server_calls_total";
    /// Histogram, seconds; `service`, `method`: from a call's arrival to its reply (a streaming
    /// call: to its end).
    pub const SERVER_CALL_DURATION: &str = "hardlight_server_call_duration_seconds";
    /// Gauge; `service`, `method`: calls running now (streaming calls included).
    pub const SERVER_CALLS_IN_FLIGHT: &str = "hardlight_server_calls_in_flight";
    /// Counter; `service`, `method`, `outcome` (`ok`, `panicked`, `timed_out`, `aborted`, and
    /// `bad_arguments` for one whose arguments failed validation, which closes its connection):
    /// one-way messages.
    pub const SERVER_ONEWAY: &str = "hardlight_server_oneway_messages_total";
    /// Counter; `service`, `method`, `direction` (`sent`: items of the server's streams,
    /// `received`: items of streamed arguments and byte-stream chunks).
    pub const SERVER_STREAM_ITEMS: &str = "hardlight_server_stream_items_total";
    /// Gauge: connections open now.
    pub const SERVER_CONNECTIONS_OPEN: &str = "hardlight_server_connections_open";
    /// Counter: connections accepted (admitted within the limits).
    pub const SERVER_CONNECTIONS_ACCEPTED: &str = "hardlight_server_connections_accepted_total";
    /// Counter; `reason` (`address_limit`, `connection_limit`, `rate_limit`, `origin`,
    /// `authentication`, `identity`, `shutting_down`, `handshake`): connections refused. All but
    /// `handshake` are refused before the upgrade (and counted by `ServerStats`); `handshake` is a
    /// client offering a schema, version or parameter the server does not serve, closed right after
    /// the upgrade (4001–4003).
    pub const SERVER_CONNECTIONS_REFUSED: &str = "hardlight_server_connections_refused_total";
    /// Counter: failures to accept a TCP connection (mostly out of file descriptors).
    pub const SERVER_ACCEPT_ERRORS: &str = "hardlight_server_accept_errors_total";
    /// Counter: connections closed because the client read too slowly (close code 4008).
    pub const SERVER_SLOW_CONSUMER_CLOSES: &str = "hardlight_server_slow_consumer_closes_total";
    /// Counter: bytes of WebSocket messages received (as received: compressed when compressed).
    pub const SERVER_RECEIVED_BYTES: &str = "hardlight_server_received_bytes_total";
    /// Counter: bytes of WebSocket messages sent (as sent).
    pub const SERVER_SENT_BYTES: &str = "hardlight_server_sent_bytes_total";
    /// Counter: events emitted on this server (one per emit, whatever the subscribers).
    pub const SERVER_EVENTS_EMITTED: &str = "hardlight_server_events_emitted_total";
    /// Counter: event frames queued to connections (one per subscriber reached; events from other
    /// servers through NATS included).
    pub const SERVER_EVENTS_DELIVERED: &str = "hardlight_server_events_delivered_total";
    /// Counter: event frames a subscriber did not get (its queue was full: it is then closed as a
    /// slow consumer; or it was closing).
    pub const SERVER_EVENTS_DROPPED: &str = "hardlight_server_events_dropped_total";
    /// Counter: events this server published to NATS.
    pub const NATS_PUBLISHED: &str = "hardlight_nats_published_total";
    /// Counter: events received from other servers through NATS.
    pub const NATS_RECEIVED: &str = "hardlight_nats_received_total";
    /// Counter: events dropped on their way to NATS (the bridge's queue was full or NATS refused
    /// them).
    pub const NATS_DROPPED: &str = "hardlight_nats_dropped_total";
    /// Counter; `service`, `method`, `outcome`: calls made by a client. `outcome` is the reply's
    /// status as on the server (`timed_out` also for the caller's own deadline), `aborted` (the
    /// caller dropped the call), or a failure on the client's side: `connection_closed`,
    /// `not_connected`, `protocol` (the server broke the protocol, or the reply failed
    /// validation), `limit_exceeded`, `encode`. A streaming call counts once, when it opens (or
    /// fails to).
    pub const CLIENT_CALLS: &str = "hardlight_client_calls_total";
    /// Histogram, seconds; `service`, `method`: a client's calls, from sending to the reply.
    pub const CLIENT_CALL_DURATION: &str = "hardlight_client_call_duration_seconds";
}

/// How a call ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The reply's status byte.
    Status(u8),
    /// Ended without a reply: the connection ended or the server stopped (on the server), the
    /// caller dropped the call (on a client).
    Aborted,
    /// A client's call failed on its side of the wire.
    Failed(Failure),
}

/// How a client's call failed on its side of the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    ConnectionClosed,
    NotConnected,
    Protocol,
    LimitExceeded,
    Encode,
}

/// The `outcome` labels: each reply status, in status order (`docs/PROTOCOL.md` §5.3), then
/// `aborted`, then (clients only) each [`Failure`], in its order.
const LABELS: [&str; 15] = [
    "ok",
    "handler_error",
    "panicked",
    "unknown_method",
    "bad_arguments",
    "internal",
    "timed_out",
    "cancelled",
    "refused",
    "aborted",
    "connection_closed",
    "not_connected",
    "protocol",
    "limit_exceeded",
    "encode",
];
const ABORTED: usize = 9;

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Status(status) => usize::from(status).min(ABORTED - 1),
            Outcome::Aborted => ABORTED,
            Outcome::Failed(failure) => ABORTED + 1 + failure as usize,
        }
    }

    /// How many outcomes `end` records.
    fn count(end: End) -> usize {
        match end {
            End::Server => ABORTED + 1,
            End::Client => LABELS.len(),
        }
    }
}

#[cfg(hardlight_native)]
/// Why a connection was refused, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefuseReason {
    AddressLimit,
    ConnectionLimit,
    RateLimit,
    Origin,
    Authentication,
    Identity,
    ShuttingDown,
    Handshake,
}

#[cfg(hardlight_native)]
impl RefuseReason {
    const ALL: [RefuseReason; 8] = [
        RefuseReason::AddressLimit,
        RefuseReason::ConnectionLimit,
        RefuseReason::RateLimit,
        RefuseReason::Origin,
        RefuseReason::Authentication,
        RefuseReason::Identity,
        RefuseReason::ShuttingDown,
        RefuseReason::Handshake,
    ];

    fn label(self) -> &'static str {
        match self {
            RefuseReason::AddressLimit => "address_limit",
            RefuseReason::ConnectionLimit => "connection_limit",
            RefuseReason::RateLimit => "rate_limit",
            RefuseReason::Origin => "origin",
            RefuseReason::Authentication => "authentication",
            RefuseReason::Identity => "identity",
            RefuseReason::ShuttingDown => "shutting_down",
            RefuseReason::Handshake => "handshake",
        }
    }
}

/// Whether a recorder is installed: the facade's no-op recorder (what `with_recorder` gives without
/// one) has no state, any real recorder has some.
fn recorder_installed() -> bool {
    metrics::with_recorder(|recorder| size_of_val(recorder) != 0)
}

/// Whether to record: asked for, and a recorder installed to record to. Describes every metric to
/// that recorder (units and help texts) when there is one.
fn recording(enabled: bool) -> bool {
    let recording = enabled && recorder_installed();
    if recording {
        describe();
    }
    recording
}

/// Describes every metric to the installed recorder (units and help texts).
fn describe() {
    {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_counter!(names::SERVER_CALLS, "Calls answered, by outcome");
        describe_histogram!(
            names::SERVER_CALL_DURATION,
            Unit::Seconds,
            "Time from a call's arrival to its reply"
        );
        describe_gauge!(names::SERVER_CALLS_IN_FLIGHT, "Calls running now");
        describe_counter!(names::SERVER_ONEWAY, "One-way messages handled, by outcome");
        describe_counter!(names::SERVER_STREAM_ITEMS, "Stream items sent and received");
        describe_gauge!(names::SERVER_CONNECTIONS_OPEN, "Connections open now");
        describe_counter!(names::SERVER_CONNECTIONS_ACCEPTED, "Connections accepted");
        describe_counter!(
            names::SERVER_CONNECTIONS_REFUSED,
            "Connections refused, by reason"
        );
        describe_counter!(
            names::SERVER_ACCEPT_ERRORS,
            "Failures to accept a TCP connection"
        );
        describe_counter!(
            names::SERVER_SLOW_CONSUMER_CLOSES,
            "Connections closed for reading too slowly"
        );
        describe_counter!(names::SERVER_RECEIVED_BYTES, Unit::Bytes, "Bytes received");
        describe_counter!(names::SERVER_SENT_BYTES, Unit::Bytes, "Bytes sent");
        describe_counter!(names::SERVER_EVENTS_EMITTED, "Events emitted");
        describe_counter!(
            names::SERVER_EVENTS_DELIVERED,
            "Event frames queued to subscribers"
        );
        describe_counter!(
            names::SERVER_EVENTS_DROPPED,
            "Event frames a subscriber did not get"
        );
        describe_counter!(names::NATS_PUBLISHED, "Events published to NATS");
        describe_counter!(names::NATS_RECEIVED, "Events received from NATS");
        describe_counter!(names::NATS_DROPPED, "Events dropped on their way to NATS");
        describe_counter!(names::CLIENT_CALLS, "Calls made, by outcome");
        describe_histogram!(
            names::CLIENT_CALL_DURATION,
            Unit::Seconds,
            "Time from sending a call to its reply"
        );
    }
}

/// A counter registered when `enabled`, a no-op otherwise.
fn counter(enabled: bool, name: &'static str, labels: &[(&'static str, String)]) -> Counter {
    if !enabled {
        return Counter::noop();
    }
    metrics::counter!(name, labels)
}

#[cfg(hardlight_native)]
/// What a server records that is not about one method: its connections, bytes and events.
pub(crate) struct ServerMetrics {
    pub(crate) connections_open: Gauge,
    pub(crate) accepted: Counter,
    refused: Vec<Counter>,
    pub(crate) accept_errors: Counter,
    pub(crate) slow_consumer_closes: Counter,
    pub(crate) received_bytes: Counter,
    pub(crate) sent_bytes: Counter,
}

#[cfg(hardlight_native)]
impl ServerMetrics {
    /// Registers the server's handles (no-ops unless `enabled`).
    pub(crate) fn new(enabled: bool) -> Self {
        let enabled = recording(enabled);
        let counter = |name| counter(enabled, name, &[]);
        Self {
            connections_open: if enabled {
                metrics::gauge!(names::SERVER_CONNECTIONS_OPEN)
            } else {
                Gauge::noop()
            },
            accepted: counter(names::SERVER_CONNECTIONS_ACCEPTED),
            refused: RefuseReason::ALL
                .iter()
                .map(|reason| {
                    self::counter(
                        enabled,
                        names::SERVER_CONNECTIONS_REFUSED,
                        &[("reason", reason.label().to_owned())],
                    )
                })
                .collect(),
            accept_errors: counter(names::SERVER_ACCEPT_ERRORS),
            slow_consumer_closes: counter(names::SERVER_SLOW_CONSUMER_CLOSES),
            received_bytes: counter(names::SERVER_RECEIVED_BYTES),
            sent_bytes: counter(names::SERVER_SENT_BYTES),
        }
    }

    /// Counts a refused connection.
    pub(crate) fn refused(&self, why: RefuseReason) {
        if let Some(counter) = self.refused.get(why as usize) {
            counter.increment(1);
        }
    }
}

#[cfg(hardlight_native)]
/// What a server's topic registry records.
#[derive(Debug)]
pub(crate) struct EventMetrics {
    pub(crate) emitted: Counter,
    pub(crate) delivered: Counter,
    pub(crate) dropped: Counter,
}

#[cfg(hardlight_native)]
impl EventMetrics {
    pub(crate) fn new(enabled: bool) -> Self {
        let enabled = recording(enabled);
        Self {
            emitted: counter(enabled, names::SERVER_EVENTS_EMITTED, &[]),
            delivered: counter(enabled, names::SERVER_EVENTS_DELIVERED, &[]),
            dropped: counter(enabled, names::SERVER_EVENTS_DROPPED, &[]),
        }
    }
}

/// What the NATS bridge records.
#[cfg(hardlight_nats)]
pub(crate) struct NatsMetrics {
    pub(crate) published: Counter,
    pub(crate) received: Counter,
    pub(crate) dropped: Counter,
}

#[cfg(hardlight_nats)]
impl NatsMetrics {
    pub(crate) fn new(enabled: bool) -> Self {
        let enabled = recording(enabled);
        Self {
            published: counter(enabled, names::NATS_PUBLISHED, &[]),
            received: counter(enabled, names::NATS_RECEIVED, &[]),
            dropped: counter(enabled, names::NATS_DROPPED, &[]),
        }
    }
}

/// What is recorded per method of a service, on the server or on a client.
pub(crate) struct MethodMetrics {
    outcomes: Vec<Counter>,
    duration: Histogram,
    in_flight: Gauge,
    #[cfg_attr(not(hardlight_native), allow(dead_code))]
    pub(crate) items_sent: Counter,
    #[cfg_attr(not(hardlight_native), allow(dead_code))]
    pub(crate) items_received: Counter,
}

/// Which end records: the names differ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Server,
    Client,
}

/// The metrics of every method of one service (and of calls to methods it does not have).
pub(crate) struct ServiceMetrics {
    enabled: bool,
    methods: Vec<MethodMetrics>,
    unknown: MethodMetrics,
}

impl ServiceMetrics {
    /// Registers the handles of service `service`, whose methods are `methods` (`oneway[i]` when
    /// method `i` is one-way), for `end`.
    pub(crate) fn new(
        enabled: bool,
        end: End,
        service: &'static str,
        methods: &[&'static str],
        oneway: &[bool],
    ) -> Self {
        let enabled = recording(enabled);
        let method = |name: &'static str, oneway: bool| {
            let labels = |more: Option<(&'static str, &'static str)>| {
                let mut labels = vec![("service", service.to_owned()), ("method", name.to_owned())];
                labels.extend(more.map(|(k, v)| (k, v.to_owned())));
                labels
            };
            let (calls, duration, in_flight) = match end {
                End::Server if oneway => (
                    names::SERVER_ONEWAY,
                    names::SERVER_CALL_DURATION,
                    names::SERVER_CALLS_IN_FLIGHT,
                ),
                End::Server => (
                    names::SERVER_CALLS,
                    names::SERVER_CALL_DURATION,
                    names::SERVER_CALLS_IN_FLIGHT,
                ),
                End::Client => (names::CLIENT_CALLS, names::CLIENT_CALL_DURATION, ""),
            };
            let outcomes = LABELS[..Outcome::count(end)]
                .iter()
                .map(|label| counter(enabled, calls, &labels(Some(("outcome", label)))))
                .collect();
            let items = |direction| {
                if end == End::Server {
                    counter(
                        enabled,
                        names::SERVER_STREAM_ITEMS,
                        &labels(Some(("direction", direction))),
                    )
                } else {
                    Counter::noop()
                }
            };
            MethodMetrics {
                outcomes,
                duration: if enabled && !oneway {
                    metrics::histogram!(duration, &labels(None))
                } else {
                    Histogram::noop()
                },
                in_flight: if enabled && end == End::Server {
                    metrics::gauge!(in_flight, &labels(None))
                } else {
                    Gauge::noop()
                },
                items_sent: items("sent"),
                items_received: items("received"),
            }
        };
        Self {
            enabled,
            methods: methods
                .iter()
                .enumerate()
                .map(|(i, name)| method(name, oneway.get(i) == Some(&true)))
                .collect(),
            unknown: method("<unknown>", false),
        }
    }

    /// The handles of method `index`.
    pub(crate) fn method(&self, index: u16) -> &MethodMetrics {
        self.methods
            .get(usize::from(index))
            .unwrap_or(&self.unknown)
    }

    /// Starts timing a call of method `index`: in flight until finished or dropped. `None` when
    /// metrics are off (nothing is timed).
    pub(crate) fn start(self: &std::sync::Arc<Self>, index: u16) -> Option<InFlight> {
        if !self.enabled {
            return None;
        }
        self.method(index).in_flight.increment(1.0);
        Some(InFlight {
            service: self.clone(),
            index,
            started: crate::rt::Instant::now(),
            done: false,
        })
    }
}

/// A call being timed: records its outcome and duration when finished, `aborted` when dropped
/// unfinished.
pub(crate) struct InFlight {
    service: std::sync::Arc<ServiceMetrics>,
    index: u16,
    started: crate::rt::Instant,
    done: bool,
}

impl InFlight {
    /// Records the call's end with `outcome`.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    /// Records the call's end with the status of `reply` (a `REPLY` frame).
    #[cfg(hardlight_native)]
    pub(crate) fn finish_reply(self, reply: &[u8]) {
        let status = reply.get(crate::wire::frame::REPLY_HEADER - 1).copied();
        self.finish(status.map_or(Outcome::Aborted, Outcome::Status));
    }

    fn record(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let method = self.service.method(self.index);
        if let Some(counter) = method.outcomes.get(outcome.index()) {
            counter.increment(1);
        }
        method.duration.record(self.started.elapsed().as_secs_f64());
        method.in_flight.decrement(1.0);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.record(Outcome::Aborted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_recorder_is_told_from_none() {
        assert!(!recorder_installed(), "no recorder in the unit tests");
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        assert!(metrics::with_local_recorder(&recorder, recorder_installed));
        // Without one, the handles are no-ops and nothing is timed, whatever the setting.
        let service = std::sync::Arc::new(ServiceMetrics::new(
            true,
            End::Server,
            "S",
            &["m"],
            &[false],
        ));
        assert!(service.start(0).is_none());
        // With one, a call is timed and counted.
        let recorded = metrics::with_local_recorder(&recorder, || {
            std::sync::Arc::new(ServiceMetrics::new(
                true,
                End::Server,
                "S",
                &["m"],
                &[false],
            ))
        });
        recorded.start(0).expect("timed").finish(Outcome::Status(0));
        let text = recorder.handle().render();
        assert!(
            text.contains(r#"hardlight_server_calls_total{service="S",method="m",outcome="ok"} 1"#),
            "{text}"
        );
    }
}
