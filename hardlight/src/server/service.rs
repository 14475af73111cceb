//! The services a server hosts: one per `#[rpc]` trait, told apart at the handshake by the schema
//! fingerprint the client offers.
//!
//! A [`Factory<H>`] is the typed side (it makes `H` handlers); [`Service`] erases `H` so that one
//! server can hold handlers of several traits, all sharing its topics, emitters and limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::timeout;

use super::Shared;
use super::admission::{Admission, Admitted};
use super::closing::CLOSE_GRACE;
use super::connection::Connection;
use super::handler::{Factory, Handler};
use super::io::Socket;
use crate::contract::ServiceSchema;
use crate::metrics::{End, RefuseReason, ServiceMetrics};
use crate::wire::frame::encode_schema;
use crate::wire::handshake::Negotiation;

/// A future that serves one connection to its end.
pub(crate) type ServeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One hosted service, its handler type erased.
pub(crate) trait Service: Send + Sync + 'static {
    /// The trait's schema fingerprint, which clients of it offer.
    fn fingerprint(&self) -> u64;

    /// The trait's name, for logs and refusals.
    fn name(&self) -> &'static str;

    /// The trait's schema text, for a client whose fingerprint differs.
    fn schema(&self) -> &'static str;

    /// The service's metrics, registered now (no-ops unless `enabled`).
    fn metrics(&self, enabled: bool) -> ServiceMetrics;

    /// Serves an accepted connection of this service: makes its handler, runs its hooks, sends
    /// `HELLO`, runs calls.
    fn serve(
        &self,
        shared: Arc<Shared>,
        ws: Socket,
        admitted: Admitted,
        compression: Option<u8>,
        metrics: Arc<ServiceMetrics>,
    ) -> ServeFuture;
}

impl<H: Handler> Service for Factory<H> {
    fn fingerprint(&self) -> u64 {
        <H::Service as ServiceSchema>::schema().fingerprint()
    }

    fn name(&self) -> &'static str {
        <H::Service as ServiceSchema>::NAME
    }

    fn schema(&self) -> &'static str {
        <H::Service as ServiceSchema>::schema().text()
    }

    fn metrics(&self, enabled: bool) -> ServiceMetrics {
        type S<H> = <H as Handler>::Service;
        ServiceMetrics::new(
            enabled,
            End::Server,
            <S<H> as ServiceSchema>::NAME,
            <S<H> as ServiceSchema>::METHODS,
            <S<H> as ServiceSchema>::ONEWAY,
        )
    }

    fn serve(
        &self,
        shared: Arc<Shared>,
        ws: Socket,
        admitted: Admitted,
        compression: Option<u8>,
        metrics: Arc<ServiceMetrics>,
    ) -> ServeFuture {
        let connection = Connection::<H>::new(shared, self, admitted, compression, metrics);
        Box::pin(connection.run(ws))
    }
}

/// Sends the schema texts of the hosted services (a `SCHEMA` frame), ahead of a 4001 close.
fn send_schemas(shared: &Shared, ws: &mut Socket) {
    match encode_schema(shared.services.iter().map(|service| service.schema())) {
        Ok(frame) => ws.binary(frame.into()),
        Err(e) => tracing::warn!(error = %e, "the services' schema texts could not be encoded"),
    }
}

/// The span of connection `id`: its peer is recorded when known, its service and identity once it
/// is admitted; each call's span is its child.
pub(crate) fn connection_span(id: u64) -> tracing::Span {
    tracing::info_span!(
        "hardlight.connection",
        id,
        peer = tracing::field::Empty,
        service = tracing::field::Empty,
        identity = tracing::field::Empty,
    )
}

/// Serves an upgraded connection as its admission says: the service the client asked for, or a
/// close with the handshake refusal (wrong schema, version or parameter). The end of every upgrade,
/// standalone or mounted.
pub(crate) async fn serve_admitted(
    shared: Arc<Shared>,
    mut ws: Socket,
    admission: Admission,
) {
    let (service, compression) = match admission.negotiation {
        Negotiation::Accept {
            service,
            compression,
        } => (service, compression),
        Negotiation::Refuse {
            code,
            reason,
            explain,
            ..
        } => {
            tracing::debug!(code, %reason, "handshake refused");
            shared.metrics().server.refused(RefuseReason::Handshake);
            if explain && shared.config.explain_schema_mismatch {
                send_schemas(&shared, &mut ws);
            }
            ws.close(Some(code), &reason);
            let _ = timeout(CLOSE_GRACE, ws.flush()).await;
            return;
        }
        Negotiation::NotHardlight(_) => return,
    };
    let (Some(metrics), Some(service)) = (
        shared.metrics().services.get(service).cloned(),
        shared.services.get(service),
    ) else {
        return;
    };
    let span = tracing::Span::current();
    span.record("service", service.name());
    span.record("identity", admission.admitted.identity.name());
    tracing::debug!("serving");
    service
        .serve(shared.clone(), ws, admission.admitted, compression, metrics)
        .await;
}
