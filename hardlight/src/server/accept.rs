//! Turning an accepted TCP stream into a hardlight WebSocket: TLS, the HTTP upgrade and negotiation.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};

use crate::wire::handshake::{Negotiation, PROTOCOL_TOKEN, negotiate};
use crate::ws::websocket_config;

/// Performs the WebSocket upgrade and decides on the client's offer.
// The callback's error type is fixed by tungstenite (an HTTP response), large or not.
#[allow(clippy::result_large_err)]
pub(crate) async fn upgrade<S>(
    stream: S,
    served: &[u64],
    allow_compression: bool,
    max_message_size: usize,
) -> Result<(WebSocketStream<S>, Negotiation), tokio_tungstenite::tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut outcome = None;
    let callback = |request: &Request, mut response: Response| {
        let offered = request
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let negotiation = negotiate(offered, served, allow_compression);
        let selected = match &negotiation {
            Negotiation::Accept { .. } => PROTOCOL_TOKEN.to_owned(),
            Negotiation::Refuse { selected, .. } => selected.clone(),
            Negotiation::NotHardlight(text) => {
                let mut refusal = ErrorResponse::new(Some(text.clone()));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                return Err(refusal);
            }
        };
        // The token came from the request's own header value, so it is a valid header value.
        if let Ok(value) = HeaderValue::from_str(&selected) {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        outcome = Some(negotiation);
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(websocket_config(max_message_size)),
    )
    .await?;
    let negotiation = outcome.unwrap_or(Negotiation::NotHardlight(String::new()));
    Ok((ws, negotiation))
}
