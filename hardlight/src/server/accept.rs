//! From accepted TCP stream to a served hardlight WebSocket: the limits per address, the first
//! byte, TLS, the request head, the decision on it ([`super::admission`]: origin, negotiation,
//! authentication, identity), the upgrade, then the chosen service; and refusing a connection over
//! HTTP when a limit says no.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tracing::Instrument;

use super::{MAX_REFUSALS_IN_PROGRESS, Shared};
use super::admission::{self, Decision};
use super::closing::CLOSE_GRACE;
use super::peer_slots::PeerSlot;
use super::io::{Socket, Stream};
use super::preflight::{Head, NOT_AN_UPGRADE, Rewind, answer, read_head};
use super::service;
use super::stats::Counted;
use crate::metrics::RefuseReason;
use crate::ws::server::ServerSocket;

/// Takes a connection the listener accepted: serves it on a task in `connections`, answers a
/// refusal on one in `refusals`, or closes it at once (an address over its per-address limits,
/// or too many refusals in progress).
pub(crate) fn take(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    connections: &mut JoinSet<()>,
    refusals: &mut JoinSet<()>,
) {
    let slot = match shared.peer_slots.enter(peer.ip()) {
        Ok(slot) => slot,
        Err(full) => {
            // Before any TLS work: closing costs the flooding address's own resources only.
            tracing::debug!(%peer, "connection dropped: {full}");
            shared.stats.connection_refused();
            shared.metrics().server.refused(RefuseReason::AddressLimit);
            return;
        }
    };
    match shared.admit(Some(peer)) {
        Ok(counted) => {
            connections.spawn(serve(shared.clone(), tcp, peer, counted, slot));
        }
        Err((status, text)) => {
            shared.stats.connection_refused();
            spawn_refusal(shared, tcp, peer, slot, (status, text), refusals);
        }
    }
}

/// Answers `tcp` with `refusal` on a task in `refusals`, unless too many are in progress (then it
/// is closed at once).
fn spawn_refusal(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: PeerSlot,
    (status, text): (StatusCode, String),
    refusals: &mut JoinSet<()>,
) {
    if refusals.len() < MAX_REFUSALS_IN_PROGRESS {
        refusals.spawn(refuse_connection(
            shared.clone(),
            tcp,
            peer,
            slot,
            status,
            text,
        ));
    }
}

/// Takes a connection accepted while the server shuts down: answered on a task in `refusals` (a
/// health probe with 503, an upgrade with 503), or closed at once (an address over its limits, or
/// too many refusals in progress).
pub(crate) fn take_draining(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    refusals: &mut JoinSet<()>,
) {
    shared.stats.connection_refused();
    shared.metrics().server.refused(RefuseReason::ShuttingDown);
    let Ok(slot) = shared.peer_slots.enter(peer.ip()) else {
        return;
    };
    let refusal = (
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down\n".to_owned(),
    );
    spawn_refusal(shared, tcp, peer, slot, refusal, refusals);
}

/// Serves one accepted TCP connection until it ends; `counted` counts it among the server's
/// connections meanwhile, and `slot` among its address's (in its handshake until the upgrade).
async fn serve(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    counted: Counted,
    slot: PeerSlot,
) {
    let id = shared.next_connection_id();
    let span = crate::server::service::connection_span(id);
    span.record("peer", tracing::field::display(peer));
    async move {
        let _counted = counted;
        // Small frames are the norm: do not let Nagle's algorithm hold them back.
        let _ = tcp.set_nodelay(true);
        let deadline = Instant::now() + shared.config.handshake_timeout;
        if !first_byte(&shared, &tcp, deadline).await {
            return;
        }
        match shared.tls.clone() {
            Some(acceptor) => match timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    serve_websocket(shared, Box::new(tls), id, peer, slot, deadline).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
            None => serve_websocket(shared, Box::new(tcp), id, peer, slot, deadline).await,
        }
    }
    .instrument(span)
    .await
}

/// Waits for the client's first byte (without reading it), at most the first-byte timeout and
/// until the handshake's `deadline`; false if the connection is to be dropped instead.
async fn first_byte(shared: &Shared, tcp: &TcpStream, deadline: Instant) -> bool {
    let limit = Instant::now()
        .checked_add(shared.config.first_byte_timeout)
        .map_or(deadline, |limit| limit.min(deadline));
    let mut byte = [0; 1];
    match timeout_at(limit, tcp.peek(&mut byte)).await {
        Ok(Ok(n)) if n > 0 => true,
        Ok(Ok(_)) => {
            tracing::debug!("closed before sending anything");
            false
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "waiting for the first byte failed");
            false
        }
        Err(_) => {
            tracing::debug!("nothing received within the first-byte timeout");
            false
        }
    }
}

/// Answers a connection a limit refused with an HTTP `status` (after TLS, so that the client can
/// read it), within the handshake timeout; `slot` counts it among its address's handshakes
/// meanwhile.
async fn refuse_connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: PeerSlot,
    status: StatusCode,
    text: String,
) {
    tracing::debug!(%peer, %status, %text, "connection refused");
    let _slot = slot;
    let _ = tcp.set_nodelay(true);
    let deadline = Instant::now() + shared.config.handshake_timeout;
    if !first_byte(&shared, &tcp, deadline).await {
        return;
    }
    let answer = async {
        match shared.tls.clone() {
            Some(acceptor) => {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    refuse_request(&shared, tls, status, text).await;
                }
            }
            None => refuse_request(&shared, tcp, status, text).await,
        }
    };
    let _ = timeout_at(deadline, answer).await;
}

/// Decides on the upgrade request, upgrades, picks the service the client asked for, and serves it.
async fn serve_websocket(
    shared: Arc<Shared>,
    stream: Stream,
    id: u64,
    peer: SocketAddr,
    mut slot: PeerSlot,
    deadline: Instant,
) {
    let (head, stream) = match timeout_at(deadline, read_head(stream)).await {
        Ok(Ok((Head::Upgrade(head), rewound))) => (head, rewound),
        Ok(Ok((Head::Get(target), mut rewound))) => {
            let _ = timeout_at(deadline, answer_get(&shared, &mut rewound, &target)).await;
            return;
        }
        Ok(Ok((Head::Refuse(status, _), _))) => {
            return tracing::debug!(status, "not a WebSocket upgrade");
        }
        Ok(Err(e)) => return tracing::debug!(error = %e, "reading the request failed"),
        Err(_) => return tracing::debug!("request head timed out"),
    };
    // Checked present by the preflight.
    let key = head.headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let admission = match admission::decide(&shared, head, peer, id, deadline).await {
        Decision::Upgrade(admission) => admission,
        Decision::Refuse(status, text) => {
            tracing::debug!(%status, text = text.trim_end(), "upgrade refused");
            shared.stats.connection_refused();
            // The hook may have used the whole handshake time: the answer gets its own.
            let _ = timeout(CLOSE_GRACE, refuse(stream, status, text)).await;
            return;
        }
        Decision::NotHardlight(text) => {
            let _ = timeout(CLOSE_GRACE, refuse(stream, StatusCode::BAD_REQUEST, text)).await;
            return;
        }
    };
    let max_message = shared.config.max_message_size;
    let upgraded = timeout_at(
        deadline,
        upgrade(stream, key.as_ref(), &admission.selected, max_message),
    )
    .await;
    match upgraded {
        Ok(Ok(ws)) => {
            // Still one of its address's open connections until this returns.
            slot.handshake_done();
            service::serve_admitted(shared, ws, admission).await;
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        Err(_) => tracing::debug!("WebSocket upgrade timed out"),
    }
}

/// Answers a plain `GET` of `target`: the health check's status if it is the health check's path,
/// otherwise a 400 (not an upgrade).
async fn answer_get<S>(shared: &Shared, stream: &mut S, target: &str)
where
    S: AsyncWrite + Unpin,
{
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let (status, text) = match shared.config.health_path.as_deref() {
        Some(health) if health == path => health_status(shared),
        _ => ("400 Bad Request", NOT_AN_UPGRADE),
    };
    if let Err(e) = answer(stream, status, text).await {
        tracing::debug!(error = %e, "answering a GET failed");
    }
}

/// What the health check answers now: `200 OK` while serving, `503` once a shutdown began.
fn health_status(shared: &Shared) -> (&'static str, &'static str) {
    if shared.shutdown.is_requested() {
        ("503 Service Unavailable", "shutting down\n")
    } else {
        ("200 OK", "ok\n")
    }
}

/// Performs the WebSocket upgrade (RFC 6455 §4.2.2): answers `101 Switching Protocols` to the
/// client's `key`, selecting the subprotocol `selected`; the bytes read past the request head are
/// the socket's first.
async fn upgrade(
    stream: Rewind<Stream>,
    key: Option<&HeaderValue>,
    selected: &str,
    max_message: usize,
) -> std::io::Result<Socket> {
    let key = key.ok_or_else(|| std::io::Error::other("no Sec-WebSocket-Key"))?;
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    // The token came from the request's own header value; checked again, as it goes in a header.
    if HeaderValue::from_str(selected).is_ok() {
        response.push_str(&format!("Sec-WebSocket-Protocol: {selected}\r\n"));
    }
    response.push_str("\r\n");
    let (leftover, mut stream) = stream.into_parts();
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    Ok(ServerSocket::new(stream, &leftover, max_message))
}

/// Reads the client's HTTP request head and answers it without upgrading: a health probe with the
/// health check's status, an upgrade with `status` and `text`.
async fn refuse_request<S>(shared: &Shared, stream: S, status: StatusCode, text: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match read_head(stream).await {
        Ok((Head::Get(target), mut rewound)) => answer_get(shared, &mut rewound, &target).await,
        Ok((Head::Upgrade(_), rewound)) => refuse(rewound, status, text).await,
        // Answered already (a malformed request), or gone.
        Ok((Head::Refuse(..), _)) | Err(_) => {}
    }
}

/// Reads the client's HTTP request and answers it with `status` and `text`, without upgrading.
// The callback's error type is fixed by tungstenite (an HTTP response), large or not.
#[allow(clippy::result_large_err)]
async fn refuse<S>(stream: S, status: StatusCode, text: String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut text = Some(text);
    let callback = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
        Err(admission::refusal(status, text.take().unwrap_or_default()))
    };
    // Either tungstenite answered our refusal or the request was not even an upgrade: done both ways.
    let _ = tokio_tungstenite::accept_hdr_async(stream, callback).await;
}
