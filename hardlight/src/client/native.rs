//! Connecting over tokio's sockets: TCP, rustls, the WebSocket upgrade, then the server's `HELLO`.

use std::future::ready;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::header;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Mirror;
use super::config::{ClientConfig, Target};
use super::driver::drive;
use super::outbox::Outgoing;
use super::request::upgrade_request;
use super::session::{Incoming, Session, check_selected, closed_before_hello, lost_before_hello};
use crate::error::Error;
use crate::keepalive::Keepalive;
use crate::server::handler::ServiceSchema;
use crate::tls::server_name;
use crate::ws::websocket_config;

/// Opens a connection and starts its driver task.
pub(crate) async fn connect<S: ?Sized + ServiceSchema + 'static>(
    config: &ClientConfig,
    mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, Error> {
    let target = Target::parse(&config.address, config.trust.is_some())?;
    let attempt = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
        let _ = tcp.set_nodelay(true);
        match &config.trust {
            Some(trust) => {
                let connector = trust.connector()?;
                let tls = connector.connect(server_name(&target.host)?, tcp).await?;
                establish::<S, _>(tls, &target, config, mirror).await
            }
            None => establish::<S, _>(tcp, &target, config, mirror).await,
        }
    };
    crate::rt::timeout(config.connect_timeout, attempt)
        .await
        .map_err(|_| {
            Error::LimitExceeded(format!(
                "connecting to {} took longer than {:?}",
                target.url(),
                config.connect_timeout
            ))
        })?
}

async fn establish<S, St>(
    stream: St,
    target: &Target,
    config: &ClientConfig,
    mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, Error>
where
    S: ?Sized + ServiceSchema + 'static,
    St: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let request = upgrade_request(config, target, S::FINGERPRINT)?;
    let (mut ws, response) = tokio_tungstenite::client_async_with_config(
        request,
        stream,
        Some(websocket_config(config.max_message_size)),
    )
    .await
    .map_err(|e| match e {
        WsError::Http(response) => {
            Error::http_refusal(response.status().as_u16(), response.body().as_deref())
        }
        e => transport(e),
    })?;
    let selected = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    check_selected(selected)?;

    let hello = loop {
        match ws.next().await {
            Some(Ok(Message::Binary(message))) => break message,
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = close_parts(frame);
                return Err(closed_before_hello(code, reason));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(_)) => return Err(Error::Protocol("expected HELLO as the first frame".into())),
            Some(Err(e)) => return Err(transport(e)),
            None => return Err(lost_before_hello()),
        }
    };
    let session =
        Session::<S>::from_hello(&hello, config, mirror.state.clone(), mirror.events.clone())?;

    let (sink, stream) = ws.split();
    let sink = sink
        .with(|out: Outgoing| {
            ready(Ok::<_, WsError>(match out {
                Outgoing::Binary(frame) => Message::Binary(frame.into()),
                Outgoing::Ping => Message::Ping(Default::default()),
                Outgoing::Close(code, reason) => Message::Close(Some(CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                })),
            }))
        })
        .sink_map_err(transport);
    let stream = stream.filter_map(|message| {
        ready(match message {
            Ok(Message::Binary(data)) => Some(Ok(Incoming::Binary(data))),
            Ok(Message::Text(_)) => Some(Ok(Incoming::Text)),
            Ok(Message::Close(frame)) => {
                let (code, reason) = close_parts(frame);
                Some(Ok(Incoming::Close { code, reason }))
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => Some(Ok(Incoming::Control)),
            Ok(Message::Frame(_)) => None,
            Err(WsError::Capacity(e)) => Some(Err(Error::LimitExceeded(e.to_string()))),
            Err(e) => Some(Err(transport(e))),
        })
    });
    let keepalive = Keepalive::new(config.keepalive_interval, config.idle_timeout);
    crate::rt::spawn(drive(
        session.clone(),
        Box::pin(sink),
        Box::pin(stream),
        keepalive,
    ));
    Ok(session)
}

fn close_parts(frame: Option<CloseFrame>) -> (Option<u16>, String) {
    match frame {
        Some(frame) => (Some(frame.code.into()), frame.reason.to_string()),
        None => (None, String::new()),
    }
}

fn transport(e: WsError) -> Error {
    Error::Transport(e.to_string())
}
