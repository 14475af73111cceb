//! The bridge between a call's trace context on the wire ([`TraceParent`]) and OpenTelemetry,
//! through `tracing-opentelemetry` (feature `opentelemetry`). Without the feature, spans carry no
//! OpenTelemetry context: nothing is read from them, and a received context is only recorded as
//! the call span's `trace_id` field.

use tracing::Span;

use crate::wire::TraceParent;

/// The trace context to send for a call whose span is `span`: its OpenTelemetry span context,
/// when the `tracing-opentelemetry` layer gave it a valid one.
#[cfg(feature = "opentelemetry")]
pub(crate) fn context_of(span: &Span) -> Option<TraceParent> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let span = cx.span();
    let context = span.span_context();
    if !context.is_valid() {
        return None;
    }
    TraceParent::new(
        context.trace_id().to_bytes(),
        context.span_id().to_bytes(),
        context.trace_flags().to_u8(),
    )
}

#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn context_of(_span: &Span) -> Option<TraceParent> {
    None
}

/// Makes the caller's span, as `parent` names it, the parent of the call's `span`.
#[cfg(all(feature = "opentelemetry", hardlight_native))]
pub(crate) fn adopt(span: &Span, parent: &TraceParent) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id()),
        SpanId::from_bytes(parent.parent_id()),
        TraceFlags::new(parent.flags()),
        true,
        TraceState::default(),
    );
    // Fails only for a span that was already started: ours is new.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

#[cfg(all(not(feature = "opentelemetry"), hardlight_native))]
pub(crate) fn adopt(_span: &Span, _parent: &TraceParent) {}
