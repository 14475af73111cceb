//! Trace context across the wire (feature `opentelemetry`): with `tracing-opentelemetry` and an
//! in-memory OpenTelemetry exporter, a call made inside a span carries its context in the `CALL`
//! frame, and the server's span of the call (and what the handler does inside it) belongs to the
//! same trace, as a child of the client's span of the call. A handle given an explicit
//! `traceparent` sends that one instead.
//!
//! One test in this binary: it installs the process's global subscriber.
mod common;

use common::within;
use hardlight::*;
use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[rpc]
pub trait Traced {
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
}

#[rpc_handler]
impl Traced for TracedHandler {
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        // The handler's own span: a child of the server's call span.
        let inner = tracing::info_span!("adding");
        Ok(async move { a + b }.instrument(inner).await)
    }
}

/// The finished span called `name` with attribute `key` = `value`.
fn span<'a>(spans: &'a [SpanData], name: &str, key: &str, value: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| {
            s.name == name
                && s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
        })
        .unwrap_or_else(|| panic!("no span {name} with {key}={value} in {spans:#?}"))
}

#[tokio::test]
async fn a_call_and_its_handler_share_one_trace_across_the_socket() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("hardlight-test")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let server = Server::new(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(TracedHandler),
    );
    let bound = server.bind().await.unwrap();
    let address = format!("localhost:{}", bound.local_addr().unwrap().port());
    let _server = common::AbortOnDrop(tokio::spawn(bound.run()));
    let client = TracedClient::new(ClientConfig::plaintext(&address));
    within("connecting", client.connect()).await.unwrap();

    // A call inside the application's span.
    let root = tracing::info_span!("request");
    let sum = within("the call", client.add(2, 3).instrument(root.clone()))
        .await
        .unwrap();
    assert_eq!(sum, 5);
    drop(root);

    // A call carrying an explicit context (as a browser page passing on its own would).
    let explicit = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .expect("a valid traceparent");
    let sum = within(
        "the explicit call",
        client.with_trace_parent(explicit).add(4, 5),
    )
    .await
    .unwrap();
    assert_eq!(sum, 9);

    // Spans end as the calls end; the server's may end a moment after the client has its reply.
    let spans = within("the spans to be exported", async {
        loop {
            provider.force_flush().expect("flush");
            let spans = exporter.get_finished_spans().expect("spans");
            if spans.iter().filter(|s| s.name == "adding").count() == 2 {
                return spans;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;

    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .expect("the root");
    let trace = request.span_context.trace_id();
    let client_call = spans
        .iter()
        .find(|s| {
            s.name == "hardlight.call"
                && s.span_context.trace_id() == trace
                && s.span_kind == SpanKind::Client
        })
        .expect("the client's call span, in the request's trace");
    assert_eq!(client_call.parent_span_id, request.span_context.span_id());
    let server_call = spans
        .iter()
        .find(|s| {
            s.name == "hardlight.call"
                && s.span_context.trace_id() == trace
                && s.span_kind == SpanKind::Server
        })
        .expect("the server's call span, in the same trace as the client's");
    assert_eq!(
        server_call.parent_span_id,
        client_call.span_context.span_id(),
        "the server's span is the child of the client's"
    );
    let method = span(&spans, "hardlight.call", "rpc.method", "add");
    assert_eq!(method.name, "hardlight.call");
    let adding = spans
        .iter()
        .find(|s| s.name == "adding" && s.span_context.trace_id() == trace)
        .expect("the handler's span, in the same trace");
    assert_eq!(adding.parent_span_id, server_call.span_context.span_id());

    // The explicit context: the server's span continues that trace, under that span.
    let continued = spans
        .iter()
        .find(|s| {
            s.name == "hardlight.call"
                && s.span_kind == SpanKind::Server
                && s.span_context.trace_id() == TraceId::from_bytes(explicit.trace_id())
        })
        .expect("the server's span of the explicit call, in its trace");
    assert_eq!(
        continued.parent_span_id,
        SpanId::from_bytes(explicit.parent_id())
    );
}
