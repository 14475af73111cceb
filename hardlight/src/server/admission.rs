//! What the server decides about an upgrade request before upgrading, in this order: the `Origin`
//! allow-list, whether the client speaks hardlight, authentication, and one connection per identity.
//! The schema is checked after authentication, so that an unauthenticated client learns nothing of
//! the services (a schema refusal names their fingerprints).

use std::net::SocketAddr;

use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::Shared;
use super::auth::UpgradeRequest;
use super::identities::{AlreadyConnected, Claim};
use super::identity::Identity;
use crate::events::outbound::CloseSignal;
use crate::metrics::RefuseReason;
use super::preflight::RequestHead;
use crate::wire::handshake::{Negotiation, PROTOCOL_TOKEN, negotiate, offers_batch, offers_metadata, offers_trace};

/// The decision on an upgrade request.
pub(crate) enum Decision {
    /// Upgrade, and serve or refuse as the admission's negotiation says.
    Upgrade(Admission),
    /// Answer with this HTTP status and text without upgrading; counted as a refused connection.
    Refuse(StatusCode, String),
    /// Answer `400 Bad Request` with this text: not a hardlight client.
    NotHardlight(String),
}

/// An upgrade request the server upgrades.
pub(crate) struct Admission {
    /// The subprotocol the response selects.
    pub selected: String,
    /// Serve (`Accept`), or close at once with a handshake refusal (`Refuse`).
    pub negotiation: Negotiation,
    /// What a served connection starts with.
    pub admitted: Admitted,
}

/// What a served connection gets from its admission.
pub(crate) struct Admitted {
    /// The connection's id, unique within its server.
    pub id: u64,
    pub identity: Identity,
    /// Closes the connection; also how a newer connection of the same identity replaces it.
    pub close: CloseSignal,
    /// The connection's hold on its identity, under one connection per identity; released once its
    /// `on_disconnect` has run.
    pub claim: Option<Claim>,
    /// The client reads `ITEMS` frames (it offered `hardlight.batch`).
    pub batch: bool,
    /// The client may send trace context (it offered `hardlight.trace`).
    pub trace: bool,
    /// The client may send metadata and reads status 8 (it offered `hardlight.metadata`).
    pub metadata: bool,
}

/// Decides on the upgrade request `head` of connection `id` from `peer`; the authentication hook,
/// and waiting for a replaced connection to end, must be done by `deadline`.
pub(crate) async fn decide(
    shared: &Shared,
    head: RequestHead,
    peer: SocketAddr,
    id: u64,
    deadline: Instant,
) -> Decision {
    let config = &shared.config;
    if let Some(origins) = &config.allowed_origins
        && let Err(text) = check_origin(&head.headers, origins)
    {
        shared.metrics().server.refused(RefuseReason::Origin);
        return Decision::Refuse(StatusCode::FORBIDDEN, text);
    }

    let offered: Vec<&str> = head
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let negotiation = negotiate(
        offered.iter().copied(),
        &shared.fingerprints,
        config.compression,
    );
    let batch = offers_batch(offered.iter().copied());
    let trace = offers_trace(offered.iter().copied());
    let metadata = offers_metadata(offered.iter().copied());
    let selected = match &negotiation {
        Negotiation::Accept { .. } => PROTOCOL_TOKEN.to_owned(),
        Negotiation::Refuse { selected, .. } => selected.clone(),
        Negotiation::NotHardlight(text) => return Decision::NotHardlight(text.clone()),
    };

    let identity = match &config.authenticate {
        Some(hook) => {
            let request = UpgradeRequest::new(&head.target, head.headers, peer);
            match hook.run(request, deadline).await {
                Ok(identity) => identity,
                Err((status, text)) => {
                    shared.metrics().server.refused(RefuseReason::Authentication);
                    return Decision::Refuse(status, text);
                }
            }
        }
        None => Identity::anonymous(),
    };

    let close = CloseSignal::new();
    let mut claim = None;
    if let (Negotiation::Accept { .. }, Some(policy)) = (&negotiation, config.identity_policy)
        && !identity.is_anonymous()
    {
        match shared.identities.claim(policy, &identity, id, &close) {
            Ok(granted) => {
                // The replaced connection's on_disconnect runs before this one's on_connect, so
                // that what the application tracks per identity ends in the new connection's state.
                if let Some(replaced) = granted.replaced
                    && timeout_at(deadline, replaced.ended()).await.is_err()
                {
                    shared.metrics().server.refused(RefuseReason::Identity);
                    return Decision::Refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the identity's previous connection is still closing; try again\n"
                            .to_owned(),
                    );
                }
                claim = Some(granted.claim);
            }
            Err(AlreadyConnected(text)) => {
                tracing::debug!(identity = identity.name(), "identity already connected");
                shared.metrics().server.refused(RefuseReason::Identity);
                return Decision::Refuse(StatusCode::CONFLICT, format!("{text}\n"));
            }
        }
    }

    Decision::Upgrade(Admission {
        selected,
        negotiation,
        admitted: Admitted {
            id,
            identity,
            close,
            claim,
            batch,
            trace,
            metadata,
        },
    })
}

/// An upgrade from a browser page of an origin not in `origins` is refused; the error is the text.
fn check_origin(headers: &HeaderMap, origins: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    if origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        Ok(())
    } else {
        tracing::debug!(origin, "origin not allowed");
        Err(format!("origin {origin:?} is not allowed\n"))
    }
}

/// The answer to a refused upgrade request: `status` with `text` as a plain-text body, after which
/// the server closes the HTTP connection. The same for a standalone and a mounted server.
pub(crate) fn refusal(status: StatusCode, text: String) -> Response<Option<String>> {
    let mut response = Response::new(Some(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110: a 401 names the scheme it wants.
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
