//! Errors keep their causes, and each operation reports its own error type: a refused connection's
//! `io::Error`, a port in use, rustls's verdict on an untrusted certificate, a value whose
//! serializer fails, the WebSocket's error under a lost connection are each found in the
//! `source()` chain; an event too large or to a topic too long says by how much; the topic
//! notifier is taken once; a call without a connection is `NotConnected`. Over real loopback
//! sockets; every wait is bounded by `within`.
mod common;

use std::error::Error as _;
use std::fmt;
use std::io;

use common::*;
use hardlight::__private::rkyv;
use hardlight::*;
use rkyv::rancor::{Fallible, Source};
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use rkyv::{Archive, Archived, Place};

/// Why [`Unencodable`] refuses: what a real type's serializer might say.
#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this value refuses to be encoded")
    }
}

impl std::error::Error for Refused {}

/// An rkyv wrapper for a `u32` whose serializer always fails with [`Refused`] (decoding works).
struct Unencodable;

impl ArchiveWith<u32> for Unencodable {
    type Archived = Archived<u32>;
    type Resolver = ();

    fn resolve_with(field: &u32, resolver: (), out: Place<Self::Archived>) {
        field.resolve(resolver, out);
    }
}

impl<S: Fallible + ?Sized> SerializeWith<u32, S> for Unencodable
where
    S::Error: Source,
{
    fn serialize_with(_: &u32, _: &mut S) -> Result<(), S::Error> {
        Err(S::Error::new(Refused))
    }
}

impl<D: Fallible + ?Sized> DeserializeWith<Archived<u32>, u32, D> for Unencodable {
    fn deserialize_with(field: &Archived<u32>, _: &mut D) -> Result<u32, D::Error> {
        Ok(field.to_native())
    }
}

/// A meter reading that cannot be encoded: as an event, or as a call's argument.
#[codable]
#[derive(Debug, Clone)]
pub struct Reading {
    #[rkyv(with = Unencodable)]
    value: u32,
}

#[rpc(events = Reading)]
pub trait Meter {
    async fn record(&self, reading: Reading) -> HandlerResult<()>;
}

#[rpc_handler]
impl Meter for MeterHandler {
    async fn record(&self, _reading: Reading) -> HandlerResult<()> {
        Ok(())
    }
}

/// The I/O error in `error`'s causes; fails the test, showing the chain, if there is none.
fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> &'a io::Error {
    find_cause::<io::Error>(error)
        .unwrap_or_else(|| panic!("no io::Error among the causes of: {}", chain(error)))
}

#[tokio::test]
async fn connecting_where_nobody_listens_is_a_transport_error_caused_by_connection_refused() {
    let nobody = HeldPort::new();
    let client = TestClient::new(ClientConfig::plaintext(nobody.address()));
    let error = refused(client.connect()).await;
    assert!(matches!(error, ConnectError::Transport(_)), "{error:?}");
    assert_eq!(
        io_cause(&error).kind(),
        io::ErrorKind::ConnectionRefused,
        "{}",
        chain(&error)
    );
    assert!(error.to_string().contains(&nobody.address()), "{error}");
    // Through `?` into the umbrella error, the same cause.
    let umbrella = Error::from(error);
    assert!(matches!(
        umbrella,
        Error::Connect(ConnectError::Transport(_))
    ));
    assert_eq!(io_cause(&umbrella).kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn binding_a_port_in_use_is_a_bind_error_caused_by_addr_in_use() {
    let first = Served::spawn(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(MeterHandler),
    )
    .await;
    let address = format!("127.0.0.1:{}", first.port);
    let second = Server::new(
        ServerConfig::plaintext(address.clone()),
        factory!(MeterHandler),
    );
    match within("a refused bind", second.bind()).await {
        Err(error @ ServerError::Bind { .. }) => {
            let cause = error.source().expect("the bind error's cause");
            let io = cause
                .downcast_ref::<io::Error>()
                .unwrap_or_else(|| panic!("the cause is not an io::Error: {cause:?}"));
            assert_eq!(io.kind(), io::ErrorKind::AddrInUse, "{}", chain(&error));
            assert!(error.to_string().contains(&address), "{error}");
        }
        Err(other) => panic!("expected a bind error, got {other:?}"),
        Ok(_) => panic!("bound a port another server listens on"),
    }
    // The first server is not disturbed.
    let client = MeterClient::new(first.client_config());
    within("connect", client.connect()).await.expect("connect");
}

#[tokio::test]
async fn a_certificate_the_client_does_not_trust_is_a_tls_error_caused_by_rustls() {
    let server = TestServer::start().await;
    let other = ServerTls::self_signed(["localhost"]).unwrap().fingerprint();
    let wrong_roots = ServerTrust::roots_from_pem(
        ServerTls::self_signed(["localhost"])
            .unwrap()
            .certificate_pem()
            .as_bytes(),
    )
    .unwrap();
    for config in [
        ClientConfig::pinned(server.address(), other),
        ClientConfig::new(server.address(), wrong_roots),
    ] {
        let error = refused(TestClient::new(config).connect()).await;
        assert!(
            matches!(error, ConnectError::Tls(TlsError::Handshake(_))),
            "{error:?}"
        );
        let verdict = find_cause::<rustls::Error>(&error)
            .unwrap_or_else(|| panic!("no rustls error among the causes of: {}", chain(&error)));
        assert!(
            matches!(verdict, rustls::Error::InvalidCertificate(_)),
            "{verdict:?}"
        );
    }
    // The server gave both handshakes up too.
    server.settles_at(0).await;
}

#[tokio::test]
async fn an_event_too_large_or_to_a_topic_too_long_says_by_how_much() {
    let server = Server::new(
        ServerConfig::plaintext("127.0.0.1:0")
            .max_message_size(1024)
            .max_topic_len(16),
        factory!(TestHandler, std::sync::Arc::new(Ctx::new("emit"))),
    );
    let emitter = server.get_event_emitter();
    let topic = Topic::from("readings");
    match emitter
        .emit(&topic, TestEvent::Text("x".repeat(4096)))
        .await
    {
        Err(EmitError::FrameTooLarge { size, max }) => {
            assert_eq!(max, 1024);
            assert!(size > 4096, "{size}");
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    let long = Topic::from("x".repeat(17).as_str());
    match emitter.emit(&long, TestEvent::Value(1)).await {
        Err(EmitError::TopicTooLong(too_long)) => {
            assert_eq!((too_long.len, too_long.max), (17, 16));
        }
        other => panic!("expected TopicTooLong, got {other:?}"),
    }
    // What fits goes (to nobody: nobody is subscribed).
    assert_eq!(emitter.emit(&topic, TestEvent::Value(1)).await.unwrap(), 0);
}

#[tokio::test]
async fn an_event_that_cannot_be_encoded_keeps_its_serializers_error() {
    let server = Server::new(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(MeterHandler),
    );
    let emitter = server.get_event_emitter();
    let error = emitter
        .emit(&Topic::from("readings"), Reading { value: 1 })
        .await
        .expect_err("an event that cannot be encoded");
    assert!(matches!(error, EmitError::Encode(_)), "{error:?}");
    assert!(
        find_cause::<wire::EncodeError>(&error).is_some(),
        "{}",
        chain(&error)
    );
    // A debug build of rkyv keeps the serializer's own error.
    if cfg!(debug_assertions) {
        assert!(find_cause::<Refused>(&error).is_some(), "{}", chain(&error));
    }
}

#[tokio::test]
async fn arguments_that_cannot_be_encoded_fail_the_call_with_their_serializers_error() {
    let server = Served::spawn(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(MeterHandler),
    )
    .await;
    let client = MeterClient::new(server.client_config());
    within("connect", client.connect()).await.expect("connect");
    match within("the call", client.record(Reading { value: 1 })).await {
        Err(CallError::Rpc(error @ RpcError::Encode(_))) => {
            if cfg!(debug_assertions) {
                assert!(find_cause::<Refused>(&error).is_some(), "{}", chain(&error));
            }
        }
        other => panic!("expected an encode error, got {other:?}"),
    }
    // Nothing was sent: the connection goes on.
    assert!(client.is_connected());
}

#[tokio::test]
async fn the_topic_notifier_is_taken_once() {
    let server = Server::new(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(MeterHandler),
    );
    let _notifier = server.get_topic_notifier().expect("the first take");
    let taken: NotifierTaken = server.get_topic_notifier().expect_err("the second take");
    assert!(taken.to_string().contains("already taken"), "{taken}");
    assert!(matches!(Error::from(taken), Error::NotifierTaken(_)));
}

#[tokio::test]
async fn a_call_on_a_client_that_never_connected_is_not_connected() {
    let nobody = HeldPort::new();
    let client = TestClient::new(ClientConfig::plaintext(nobody.address()));
    match within("the call", client.add(1, 2)).await {
        Err(CallError::Rpc(RpcError::NotConnected)) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }
    assert!(matches!(client.state().await, Err(RpcError::NotConnected)));
    assert!(matches!(
        within("closed", client.closed()).await,
        ClosedError::Ended(RpcError::NotConnected)
    ));
    // `?` on a call gives the umbrella error's `Rpc`.
    let umbrella = Error::from(client.add(1, 2).await.unwrap_err());
    assert!(matches!(umbrella, Error::Rpc(RpcError::NotConnected)));
}

#[tokio::test]
async fn a_connection_lost_under_a_call_keeps_the_transports_error() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;
    // The server's task ends without a close frame, as a crash would.
    server.kill();
    match within("the call to fail", call).await.unwrap() {
        Err(CallError::Rpc(error @ RpcError::ConnectionClosed { code: None, .. })) => {
            assert!(
                find_cause::<std::io::Error>(&error).is_some(),
                "{}",
                chain(&error)
            );
        }
        other => panic!("expected a lost connection, got {other:?}"),
    }
}
