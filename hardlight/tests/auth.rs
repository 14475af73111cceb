//! Authentication at the upgrade: a token in the `Authorization` header, in the subprotocol list (the
//! browser's way) or in the query reaches the server's hook; what it accepts is the connection's
//! identity in every handler, what it rejects the client gets as `ConnectError::Unauthorized`, at
//! once; and one connection per identity, refusing the new one or replacing the old one.
mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::counter::{Counter, CounterHandler, DOCUMENTED_FINGERPRINT};
use common::*;
use hardlight::wire::close;
use hardlight::*;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Who {
    pub name: String,
    pub anonymous: bool,
    pub role: Option<String>,
}

#[rpc(state = Serial)]
trait Whoami {
    async fn whoami(&self) -> HandlerResult<Who>;
}

/// Numbers each connection in its `on_connect`, so that the hooks' log can tell connections apart.
#[connection_state]
struct Serial {
    serial: u32,
}

/// A second service, to check that one connection per identity holds across services.
#[rpc]
trait Second {
    async fn ping(&self) -> HandlerResult<()>;
}

/// What an identity's data holds in these tests.
struct Role(&'static str);

/// The hooks' log: "connect ada #1", "disconnect ada #1", ...
#[derive(Default)]
struct Log {
    serials: AtomicU32,
    lines: Mutex<Vec<String>>,
}

impl Log {
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[rpc_handler(context = Log)]
impl Whoami for WhoamiHandler {
    async fn whoami(&self) -> HandlerResult<Who> {
        Ok(Who {
            name: self.identity.name().to_owned(),
            anonymous: self.identity.is_anonymous(),
            role: self.identity.data::<Role>().map(|role| role.0.to_owned()),
        })
    }

    #[on_connect]
    async fn joined(&self) {
        let serial = self.context.serials.fetch_add(1, Ordering::SeqCst) + 1;
        self.state.write().await.serial = serial;
        let line = format!("connect {} #{serial}", self.identity.name());
        self.context.lines.lock().unwrap().push(line);
    }

    #[on_disconnect]
    async fn left(&self, why: Disconnect) {
        let serial = self.state.read().await.serial;
        let line = format!(
            "disconnect {} #{serial} {:?}",
            self.identity.name(),
            why.code()
        );
        self.context.lines.lock().unwrap().push(line);
    }
}

#[rpc_handler]
impl Second for SecondHandler {
    async fn ping(&self) -> HandlerResult<()> {
        Ok(())
    }
}

/// The server's authentication: what every test server runs, counting the hook's runs.
fn authenticated(config: ServerConfig, runs: Arc<AtomicUsize>) -> ServerConfig {
    config.authenticate(move |request: UpgradeRequest| {
        runs.fetch_add(1, Ordering::SeqCst);
        async move {
            let token = request
                .token()
                .ok_or_else(|| Rejection::new("send a bearer token"))?;
            match token.as_str() {
                "ada-token" => Ok(Identity::new("ada").with_data(Role("admin"))),
                "bob-token" => Ok(Identity::new("bob")),
                "carol token/+=&é" => Ok(Identity::new("carol")),
                "guest" => Ok(Identity::anonymous()),
                "banned" => Err(Rejection::forbidden("this account is banned")),
                _ => Err(Rejection::new("unknown token")),
            }
        }
    })
}

struct AuthServer {
    server: Served,
    log: Arc<Log>,
    hook_runs: Arc<AtomicUsize>,
}

async fn start(config: ServerConfig) -> AuthServer {
    let hook_runs = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Log::default());
    let config = authenticated(config, hook_runs.clone());
    let server = Served::spawn(config, factory!(WhoamiHandler, log.clone())).await;
    AuthServer {
        server,
        log,
        hook_runs,
    }
}

impl AuthServer {
    fn config(&self) -> ClientConfig {
        self.server.client_config()
    }

    async fn connect(&self, config: ClientConfig) -> Result<WhoamiClient, ConnectError> {
        let client = WhoamiClient::new(config);
        within("connect", client.connect()).await?;
        Ok(client)
    }

    async fn who(&self, config: ClientConfig) -> Who {
        let client = self.connect(config).await.expect("connect");
        client.whoami().await.expect("whoami")
    }
}

fn ada() -> Who {
    Who {
        name: "ada".into(),
        anonymous: false,
        role: Some("admin".into()),
    }
}

#[tokio::test]
async fn a_token_in_the_authorization_header_authenticates() {
    let server = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    assert_eq!(
        server.who(server.config().auth_token("ada-token")).await,
        ada()
    );
    assert_eq!(server.hook_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_in_the_subprotocol_list_authenticates_as_browsers_send_it() {
    let server = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    // The client checks that the server selected hardlight.v1, never the auth entry.
    let config = server
        .config()
        .auth_token_via(TokenCarrier::Subprotocol, "ada-token");
    assert_eq!(server.who(config).await, ada());
}

#[tokio::test]
async fn a_token_in_the_query_authenticates() {
    let server = start(ServerConfig::plaintext("127.0.0.1:0")).await;
    let port = server.server.port;
    // Written into the URL by hand...
    let url = format!("ws://127.0.0.1:{port}/rpc?token=bob-token");
    let who = server.who(ClientConfig::plaintext(url)).await;
    assert_eq!(who.name, "bob");
    // ...or percent-encoded by the client, next to a query of its own.
    let config = ClientConfig::plaintext(format!("ws://127.0.0.1:{port}/rpc?room=1"))
        .auth_token_via(TokenCarrier::Query, "carol token/+=&é");
    assert_eq!(server.who(config).await.name, "carol");
}

#[tokio::test]
async fn the_hook_sees_the_path_query_headers_subprotocols_and_peer() {
    let seen = Arc::new(Mutex::new(None));
    let config = ServerConfig::new_self_signed("127.0.0.1:0").authenticate({
        let seen = seen.clone();
        move |request: UpgradeRequest| {
            let summary = (
                request.path().to_owned(),
                request.query_param("room"),
                request.headers().contains_key("host"),
                request.subprotocols().to_vec(),
                request.peer_addr().ip().is_loopback(),
                request.token(),
            );
            *seen.lock().unwrap() = Some(summary);
            async { Ok(Identity::new("ada")) }
        }
    });
    let server = Served::spawn(config, factory!(WhoamiHandler)).await;
    let address = format!("wss://localhost:{}/lobby/main?room=7", server.port);
    let client_config = ClientConfig::pinned(address, server.fingerprint.unwrap())
        .auth_token_via(TokenCarrier::Subprotocol, "tok.en_1");
    let client = WhoamiClient::new(client_config);
    within("connect", client.connect()).await.unwrap();
    let summary = seen.lock().unwrap().take().expect("the hook ran");
    assert_eq!(
        summary,
        (
            "/lobby/main".to_owned(),
            Some("7".to_owned()),
            true,
            vec!["hardlight-auth.tok.en_1".to_owned()],
            true,
            Some("tok.en_1".to_owned()),
        )
    );
}

#[tokio::test]
async fn a_rejected_client_gets_unauthorized_with_the_reason_at_once() {
    let server = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let cases = [
        (server.config(), 401, "send a bearer token"),
        (server.config().auth_token("forged"), 401, "unknown token"),
        (
            server.config().auth_token("banned"),
            403,
            "this account is banned",
        ),
    ];
    for (i, (config, expected_status, expected_reason)) in cases.into_iter().enumerate() {
        match refused(server.connect(config)).await {
            ConnectError::Unauthorized { status, reason } => {
                assert_eq!(
                    (status, reason.as_str()),
                    (expected_status, expected_reason)
                );
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
        // One attempt per connect: the client does not retry by itself.
        assert_eq!(server.hook_runs.load(Ordering::SeqCst), i + 1);
    }
    assert_eq!(server.server.stats.connections_refused(), 3);
    server.server.settles_at(0).await;
    assert!(server.log.lines().is_empty(), "no connection was served");
    // Others are still served.
    assert_eq!(
        server
            .who(server.config().auth_token("bob-token"))
            .await
            .name,
        "bob"
    );
}

#[tokio::test]
async fn a_token_its_carrier_cannot_hold_fails_before_anything_is_sent() {
    let server = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let config = server
        .config()
        .auth_token_via(TokenCarrier::Subprotocol, "padded==");
    match refused(server.connect(config)).await {
        ConnectError::InvalidToken(why) => assert!(why.contains("'='"), "{why}"),
        other => panic!("expected InvalidToken, got {other:?}"),
    }
    assert_eq!(server.hook_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_a_hook_every_connection_is_anonymous() {
    let server = Served::spawn(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(WhoamiHandler),
    )
    .await;
    // A token nobody checks changes nothing.
    let client = WhoamiClient::new(server.client_config().auth_token("ada-token"));
    within("connect", client.connect()).await.unwrap();
    let who = client.whoami().await.unwrap();
    assert_eq!(
        who,
        Who {
            name: String::new(),
            anonymous: true,
            role: None
        }
    );
}

#[tokio::test]
async fn reject_new_refuses_a_second_connection_of_an_identity_with_409() {
    let server = start(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .one_connection_per_identity(IdentityPolicy::RejectNew),
    )
    .await;
    let first = server
        .connect(server.config().auth_token("ada-token"))
        .await
        .unwrap();
    match refused(server.connect(server.config().auth_token("ada-token"))).await {
        ConnectError::HandshakeRefused { code, reason } => {
            assert_eq!(code, 409);
            assert_eq!(reason, "identity ada is already connected");
        }
        other => panic!("expected a 409 refusal, got {other:?}"),
    }
    assert_eq!(server.server.stats.connections_refused(), 1);
    // Other identities, and anonymous ones as many times as they like, are not limited.
    let _bob = server
        .connect(server.config().auth_token("bob-token"))
        .await
        .unwrap();
    let _guest1 = server
        .connect(server.config().auth_token("guest"))
        .await
        .unwrap();
    let _guest2 = server
        .connect(server.config().auth_token("guest"))
        .await
        .unwrap();
    assert_eq!(first.whoami().await.unwrap(), ada());

    // Once the first has gone, ada may connect again.
    first.disconnect().await;
    server.server.settles_at(3).await;
    let again = server
        .connect(server.config().auth_token("ada-token"))
        .await
        .unwrap();
    assert_eq!(again.whoami().await.unwrap(), ada());
}

#[tokio::test]
async fn replace_old_closes_the_old_connection_with_4010_and_serves_the_new_one() {
    let server = start(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .one_connection_per_identity(IdentityPolicy::ReplaceOld),
    )
    .await;
    let old = server
        .connect(server.config().auth_token("ada-token"))
        .await
        .unwrap();
    let new = server
        .connect(server.config().auth_token("ada-token"))
        .await
        .unwrap();
    match within("the old client to see the close", old.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, reason, .. }) => {
            assert_eq!(code, Some(close::REPLACED));
            assert_eq!(
                reason,
                "replaced by a newer connection of the same identity"
            );
        }
        other => panic!("expected a 4010 close, got {other:?}"),
    }
    assert_eq!(new.whoami().await.unwrap(), ada());
    assert_eq!(new.state().await.unwrap().serial, 2);
    // The old connection's on_disconnect ran before the new one's on_connect.
    assert_eq!(
        server.log.lines(),
        [
            "connect ada #1",
            "disconnect ada #1 Some(4010)",
            "connect ada #2"
        ]
    );
    server.server.settles_at(1).await;

    // A third replaces the second; the entry stays the newest one's.
    let third = server
        .connect(server.config().auth_token("ada-token"))
        .await
        .unwrap();
    match within("the second client to see the close", new.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, .. }) => {
            assert_eq!(code, Some(close::REPLACED))
        }
        other => panic!("expected a 4010 close, got {other:?}"),
    }
    assert_eq!(third.state().await.unwrap().serial, 3);
    assert!(third.is_connected());
}

#[tokio::test]
async fn one_connection_per_identity_holds_across_services() {
    let hook_runs = Arc::new(AtomicUsize::new(0));
    let config = authenticated(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .one_connection_per_identity(IdentityPolicy::RejectNew),
        hook_runs,
    );
    let server = Served::bind(
        Server::new(config, factory!(WhoamiHandler)).service(factory!(SecondHandler)),
        (),
    )
    .await;

    let whoami = WhoamiClient::new(server.client_config().auth_token("ada-token"));
    within("connect", whoami.connect()).await.unwrap();
    let second = SecondClient::new(server.client_config().auth_token("ada-token"));
    match refused(second.connect()).await {
        ConnectError::HandshakeRefused { code, .. } => assert_eq!(code, 409),
        other => panic!("expected a 409 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn over_the_wire_the_auth_entry_is_never_selected_and_a_refusal_is_plain_http() {
    let server = start(ServerConfig::plaintext("127.0.0.1:0")).await;
    let port = server.server.port;
    let offer = hardlight::__private::wire::handshake::client_offer(
        hardlight::fingerprint::<dyn Whoami>(),
        None,
    )
    .join(", ");

    let accepted = raw_http(
        port,
        &upgrade_request("/", &format!("{offer}, hardlight-auth.ada-token"), ""),
    )
    .await
    .text;
    assert!(
        accepted.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{accepted}"
    );
    assert!(
        accepted
            .to_ascii_lowercase()
            .contains("\r\nsec-websocket-protocol: hardlight.v1\r\n"),
        "{accepted}"
    );

    let refused = raw_http(
        port,
        &upgrade_request("/", &format!("{offer}, hardlight-auth.forged"), ""),
    )
    .await
    .text;
    assert!(
        refused.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{refused}"
    );
    assert!(refused.ends_with("\r\n\r\nunknown token\n"), "{refused}");
    // Both raw peers are gone; the accepted one was served until it dropped.
    server.server.settles_at(0).await;
    assert_eq!(
        server.log.lines(),
        ["connect ada #1", "disconnect ada #1 None"]
    );
}

/// The lines of the block marked `<!-- text: NAME -->` in docs/PROTOCOL.md.
fn documented(name: &str) -> Vec<&'static str> {
    const PROTOCOL_MD: &str =
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"));
    let marker = format!("<!-- text: {name} -->");
    let mut lines = PROTOCOL_MD
        .lines()
        .skip_while(|line| line.trim() != marker)
        .skip(1);
    assert_eq!(lines.next().map(str::trim), Some("```text"), "{marker}");
    lines.take_while(|line| line.trim() != "```").collect()
}

/// An HTTP head from documented lines: each ends with CRLF, then the empty line.
fn http_head(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| format!("{line}\r\n"))
        .collect::<String>()
        + "\r\n"
}

#[tokio::test]
async fn the_documented_auth_example_is_what_the_server_answers() {
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";
    let config = ServerConfig::plaintext("127.0.0.1:0").authenticate(|request| async move {
        match request.token().as_deref() {
            Some(TOKEN) => Ok(Identity::new("ada")),
            _ => Err(Rejection::new("unknown token")),
        }
    });
    let server = Served::spawn(config, factory!(CounterHandler)).await;
    assert_eq!(
        hardlight::fingerprint::<dyn Counter>(),
        DOCUMENTED_FINGERPRINT,
        "the document's counter service"
    );

    let request = http_head(&documented("auth_request"));
    assert!(request.contains(TOKEN));
    let accepted = raw_http(server.port, &request).await.text;
    let head_end = accepted.find("\r\n\r\n").expect("a complete head") + 4;
    assert_eq!(
        &accepted[..head_end],
        http_head(&documented("auth_accepted"))
    );

    let refused = raw_http(server.port, &request.replace(TOKEN, "forged"))
        .await
        .text;
    let documented_refusal = documented("auth_refused");
    let blank = documented_refusal
        .iter()
        .position(|line| line.is_empty())
        .expect("a head, an empty line, a body");
    let body: String = documented_refusal[blank + 1..]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(refused, http_head(&documented_refusal[..blank]) + &body);
}

#[tokio::test]
async fn odd_and_oversized_authorization_headers_are_refused_without_harm() {
    let server = start(ServerConfig::plaintext("127.0.0.1:0")).await;
    let port = server.server.port;
    let bystander = server
        .connect(ClientConfig::plaintext(format!("127.0.0.1:{port}")).auth_token("bob-token"))
        .await
        .unwrap();
    let offer = hardlight::__private::wire::handshake::client_offer(
        hardlight::fingerprint::<dyn Whoami>(),
        None,
    )
    .join(", ");

    // A 7 KiB token: still within the 8 KiB request head, so the hook judges it.
    let long = format!("Authorization: Bearer {}\r\n", "x".repeat(7 << 10));
    let answer = raw_http(port, &upgrade_request("/", &offer, &long))
        .await
        .text;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Beyond the head limit: refused before any hook runs.
    let huge = format!("Authorization: Bearer {}\r\n", "x".repeat(9 << 10));
    let answer = raw_http(port, &upgrade_request("/", &offer, &huge))
        .await
        .text;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // Not text, another scheme, no token after the scheme: no token at all.
    for header in [
        "Authorization: Bearer \u{00e9}t\u{00e9}\r\n",
        "Authorization: Basic YWRhOnNlY3JldA==\r\n",
        "Authorization: Bearer    \r\n",
    ] {
        let answer = raw_http(port, &upgrade_request("/", &offer, header))
            .await
            .text;
        assert!(answer.starts_with("HTTP/1.1 401"), "{header}: {answer}");
        assert!(
            answer.ends_with("send a bearer token\n"),
            "{header}: {answer}"
        );
    }
    assert_eq!(bystander.whoami().await.unwrap().name, "bob");
    server.server.settles_at(1).await;
}
