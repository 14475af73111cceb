//! Metrics through the `metrics` facade: with the Prometheus exporter installed, a server and its
//! clients record calls by service, method and outcome, durations, calls in flight, one-way
//! messages, stream items, connections accepted and refused, events and bytes; the test scrapes
//! `/metrics` over real HTTP and checks the values.
//!
//! One test in this binary: a process has one global recorder.
mod common;

use std::net::SocketAddr;

use common::within;
use futures_util::StreamExt;
use hardlight::metrics::names;
use hardlight::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum MeterError {
    Refused,
}

#[rpc(events = u32)]
pub trait Meter {
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
    async fn refuse(&self) -> Result<(), MeterError>;
    async fn explode(&self) -> HandlerResult<()>;
    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>>;
    async fn sum(&self, items: Streaming<u32>) -> HandlerResult<u64>;
    async fn watch(&self, topic: String) -> HandlerResult<()>;
    #[oneway]
    async fn note(&self, text: String);
}

#[rpc_handler]
impl Meter for MeterHandler {
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        Ok(a + b)
    }

    async fn refuse(&self) -> Result<(), MeterError> {
        Err(MeterError::Refused)
    }

    async fn explode(&self) -> HandlerResult<()> {
        panic!("the meter exploded")
    }

    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>> {
        Ok(Streaming::iter(0..n))
    }

    async fn sum(&self, mut items: Streaming<u32>) -> HandlerResult<u64> {
        let mut sum = 0;
        while let Some(item) = items.next().await {
            sum += u64::from(item?);
        }
        Ok(sum)
    }

    async fn watch(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(topic.as_str()));
        Ok(())
    }

    async fn note(&self, _text: String) {}
}

/// A service the server does not host: its client is refused at the handshake.
#[rpc]
pub trait Stranger {
    async fn hello(&self) -> HandlerResult<()>;
}

/// The scraped exposition text.
struct Scrape(String);

impl Scrape {
    /// The value of the sample of `name` whose labels include every one of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (metric == name && all).then(|| value.parse().ok())?
        })
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in:\n{}", self.0))
    }
}

/// `GET /metrics` from the exporter's listener, over HTTP/1.1.
async fn scrape(exporter: SocketAddr) -> Scrape {
    let mut tcp = TcpStream::connect(exporter)
        .await
        .expect("connect to the exporter");
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send the scrape");
    let mut response = String::new();
    tcp.read_to_string(&mut response)
        .await
        .expect("read the scrape");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    Scrape(body.to_owned())
}

/// Scrapes until `holds` is true of the scrape (what is recorded after a reply is sent, such as a
/// connection's end, lands a moment after the client sees it), within the test's timeout.
async fn scrape_until(exporter: SocketAddr, holds: impl Fn(&Scrape) -> bool) -> Scrape {
    within("the metrics to show it", async {
        loop {
            let scraped = scrape(exporter).await;
            if holds(&scraped) {
                return scraped;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}

#[tokio::test]
async fn prometheus_scrape_shows_what_the_server_and_client_did() {
    // The exporter on a free port; installed before the server's first connection.
    let exporter = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    PrometheusBuilder::new()
        .with_http_listener(exporter)
        .set_buckets(&[0.001, 0.01, 0.1, 1.0, 10.0])
        .unwrap()
        .install()
        .expect("install the Prometheus exporter");

    let server = Server::new(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(MeterHandler),
    );
    let stats = server.stats();
    let emitter = server.get_event_emitter();
    let bound = server.bind().await.unwrap();
    let address = format!("localhost:{}", bound.local_addr().unwrap().port());
    let _server = common::AbortOnDrop(tokio::spawn(bound.run()));

    let client = MeterClient::new(ClientConfig::plaintext(&address));
    client.connect().await.unwrap();
    for i in 0..3 {
        assert_eq!(client.add(i, 1).await.unwrap(), i + 1);
    }
    assert!(client.refuse().await.unwrap_err().handler_error().is_some());
    assert!(client.explode().await.is_err());
    let counted: Vec<u32> = client
        .count(5)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(counted, [0, 1, 2, 3, 4]);
    let sum = client.sum(Streaming::iter([1, 2, 3, 4])).await.unwrap();
    assert_eq!(sum, 10);
    client.note("hello".into()).await.unwrap();
    client.watch("ticks".into()).await.unwrap();
    let mut events = client.subscribe().await.unwrap();
    assert_eq!(emitter.emit(&Topic::from("ticks"), 7).await.unwrap(), 1);
    within("the event", events.recv()).await.unwrap();

    // A client of a service the server does not host: refused at the handshake.
    assert!(
        StrangerClient::new(ClientConfig::plaintext(&address))
            .connect()
            .await
            .is_err()
    );

    let service = ("service", "Meter");
    let calls = |method, outcome| {
        move |s: &Scrape| {
            s.value(
                names::SERVER_CALLS,
                &[service, ("method", method), ("outcome", outcome)],
            )
        }
    };
    // The one-way message is recorded when its handler ends, after the client has sent it.
    let scraped = scrape_until(exporter, |s| {
        s.value(
            names::SERVER_ONEWAY,
            &[("method", "note"), ("outcome", "ok")],
        ) == Some(1.0)
            && s.value(
                names::SERVER_CONNECTIONS_REFUSED,
                &[("reason", "handshake")],
            ) == Some(1.0)
    })
    .await;
    assert_eq!(calls("add", "ok")(&scraped), Some(3.0));
    assert_eq!(calls("refuse", "handler_error")(&scraped), Some(1.0));
    assert_eq!(calls("explode", "panicked")(&scraped), Some(1.0));
    assert_eq!(calls("count", "ok")(&scraped), Some(1.0));
    assert_eq!(calls("sum", "ok")(&scraped), Some(1.0));
    assert_eq!(calls("add", "bad_arguments")(&scraped), Some(0.0));
    assert_eq!(
        scraped.get(
            &format!("{}_count", names::SERVER_CALL_DURATION),
            &[service, ("method", "add")]
        ),
        3.0
    );
    assert_eq!(
        scraped.get(names::SERVER_CALLS_IN_FLIGHT, &[service, ("method", "add")]),
        0.0
    );
    let items = |method, direction| {
        scraped.get(
            names::SERVER_STREAM_ITEMS,
            &[service, ("method", method), ("direction", direction)],
        )
    };
    assert_eq!(items("count", "sent"), 5.0);
    assert_eq!(items("sum", "received"), 4.0);
    assert_eq!(scraped.get(names::SERVER_CONNECTIONS_ACCEPTED, &[]), 2.0);
    assert_eq!(scraped.get(names::SERVER_CONNECTIONS_OPEN, &[]), 1.0);
    assert_eq!(scraped.get(names::SERVER_EVENTS_EMITTED, &[]), 1.0);
    assert_eq!(scraped.get(names::SERVER_EVENTS_DELIVERED, &[]), 1.0);
    assert_eq!(scraped.get(names::SERVER_EVENTS_DROPPED, &[]), 0.0);
    assert!(scraped.get(names::SERVER_RECEIVED_BYTES, &[]) > 0.0);
    assert!(scraped.get(names::SERVER_SENT_BYTES, &[]) > 0.0);
    // The client's view of the same calls.
    let client_calls = |method, outcome| {
        scraped.get(
            names::CLIENT_CALLS,
            &[service, ("method", method), ("outcome", outcome)],
        )
    };
    assert_eq!(client_calls("add", "ok"), 3.0);
    assert_eq!(client_calls("refuse", "handler_error"), 1.0);
    assert_eq!(client_calls("explode", "panicked"), 1.0);
    assert_eq!(
        scraped.get(
            &format!("{}_count", names::CLIENT_CALL_DURATION),
            &[service, ("method", "add")]
        ),
        3.0
    );

    // Once the client leaves, no connection is open.
    drop(events);
    drop(client);
    within(
        "the connection to end",
        stats.wait_for_connections(|n| n == 0),
    )
    .await;
    let scraped = scrape(exporter).await;
    assert_eq!(scraped.get(names::SERVER_CONNECTIONS_OPEN, &[]), 0.0);
}
