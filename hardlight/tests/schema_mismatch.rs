//! A client whose schema differs from the server's is refused with 4001, and learns what differs:
//! asked to (`hardlight.explain` in the offer, which the client always sends), the server sends the
//! schema texts of the services it hosts before the close (a `SCHEMA` frame), and the client names
//! the first method or type that differs, with both sides' definitions.
mod common;

use common::counter::CounterHandler;
use common::{RawPeer, Served, raw_connect, within};
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{ServerFrame, decode_server, kind};
use hardlight::wire::{Codable, close};
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;

/// The counter service of `common::counter` as an older build had it: `CounterEvent` without
/// `ServerSentTest`.
mod older {
    use hardlight::*;

    #[codable]
    #[derive(Debug, Clone, PartialEq)]
    pub enum CounterEvent {
        Incremented { to: u32, from: u32 },
        Decremented { to: u32, from: u32 },
    }

    #[connection_state]
    pub struct State {
        counter: u32,
        topic: Topic,
    }

    #[rpc(state = State, events = CounterEvent)]
    pub trait Counter {
        async fn new_counter(&self) -> HandlerResult<()>;
        async fn increment(&self, amount: u32) -> HandlerResult<()>;
        async fn decrement(&self, amount: u32) -> HandlerResult<()>;
        async fn get(&self) -> HandlerResult<u32>;
    }
}

/// Fails the test unless the next message on `ws` is the 4001 close (`expected` says what else was
/// wanted).
async fn next_is_the_refusal(ws: &mut RawPeer, expected: &str) {
    match within("the close", ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), close::SCHEMA_MISMATCH);
        }
        other => panic!("{expected}, got {other:?}"),
    }
}

async fn counter_server(config: ServerConfig) -> Served {
    Served::spawn(config, factory!(CounterHandler)).await
}

#[tokio::test]
async fn a_refused_client_names_the_type_that_differs() {
    let server = counter_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = older::CounterClient::new(server.client_config());
    match within("a refused connect", client.connect()).await {
        Err(ConnectError::HandshakeRefused { code, reason }) => {
            assert_eq!(code, close::SCHEMA_MISMATCH);
            assert!(
                reason.starts_with(
                    "schema mismatch: type CounterEvent differs: the server has \"enum { \
                     Incremented { to: u32, from: u32 }, Decremented { to: u32, from: u32 }, \
                     ServerSentTest }\", the client \"enum { Incremented { to: u32, from: u32 }, \
                     Decremented { to: u32, from: u32 } }\""
                ),
                "{reason}"
            );
        }
        other => panic!("expected a schema refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_schema_frame_holds_the_hosted_services_texts_then_the_server_closes() {
    let server = counter_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let offer = [
        "hardlight.v1",
        "hardlight.schema.0000000000000001",
        "hardlight.explain",
    ];
    let mut ws = within("upgrade", raw_connect(server.port, &offer))
        .await
        .expect("the upgrade completes");
    let texts = match within("the SCHEMA frame", ws.next()).await {
        Some(Ok(Message::Binary(frame))) => {
            assert_eq!(frame[0], kind::SCHEMA);
            match decode_server(&frame).expect("a valid frame") {
                ServerFrame::Schema(archive) => <Vec<String>>::decode(archive).expect("texts"),
                other => panic!("expected SCHEMA, got {other:?}"),
            }
        }
        other => panic!("expected a SCHEMA frame, got {other:?}"),
    };
    assert_eq!(texts, [hardlight::schema::<dyn common::counter::Counter>()]);
    next_is_the_refusal(&mut ws, "expected the 4001 close").await;
}

#[tokio::test]
async fn a_peer_that_does_not_ask_gets_only_the_close() {
    let server = counter_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let offer = ["hardlight.v1", "hardlight.schema.0000000000000001"];
    let mut ws = within("upgrade", raw_connect(server.port, &offer))
        .await
        .expect("the upgrade completes");
    next_is_the_refusal(&mut ws, "expected only the 4001 close").await;
}

#[tokio::test]
async fn a_server_told_not_to_explain_sends_only_the_close() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").explain_schema_mismatch(false);
    let server = counter_server(config).await;
    let offer = [
        "hardlight.v1",
        "hardlight.schema.0000000000000001",
        "hardlight.explain",
    ];
    let mut ws = within("upgrade", raw_connect(server.port, &offer))
        .await
        .expect("the upgrade completes");
    next_is_the_refusal(&mut ws, "expected only the 4001 close").await;
    // The typed client is refused with the server's words alone.
    let client = older::CounterClient::new(server.client_config());
    match within("a refused connect", client.connect()).await {
        Err(ConnectError::HandshakeRefused { code, reason }) => {
            assert_eq!(code, close::SCHEMA_MISMATCH);
            assert!(!reason.contains("CounterEvent"), "{reason}");
        }
        other => panic!("expected a schema refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_without_credentials_learns_nothing_of_the_schema() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").authenticate(|request| async move {
        match request.token().as_deref() {
            Some("let-me-in") => Ok(Identity::new("ada")),
            _ => Err(Rejection::new("a token is required")),
        }
    });
    let server = counter_server(config).await;
    let client = older::CounterClient::new(server.client_config());
    match within("a refused connect", client.connect()).await {
        Err(ConnectError::Unauthorized { status, reason }) => {
            assert_eq!(status, 401);
            assert!(
                !reason.contains("CounterEvent") && !reason.contains("schema"),
                "{reason}"
            );
        }
        other => panic!("expected 401, got {other:?}"),
    }
}
