//! TLS: the self-signed dev mode, a pinned certificate, normal verification against roots, and
//! plaintext only by explicit opt-in.
mod common;

use common::*;
use hardlight::*;

#[tokio::test]
async fn self_signed_dev_client_connects() {
    let server = TestServer::start().await;
    let client = TestClient::new_self_signed(&server.address(), Compression::default());
    within("connect", client.connect()).await.unwrap();
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
}

#[tokio::test]
async fn a_pinned_certificate_is_trusted_and_any_other_refused() {
    let server = TestServer::start().await;
    let pinned = server.client().await;
    assert_eq!(pinned.add(1, 2).await.unwrap(), 3);

    let other = ServerTls::self_signed(["localhost"]).unwrap().fingerprint();
    let client = TestClient::new(ClientConfig::pinned(server.address(), other));
    match within("refused connect", client.connect()).await {
        Err(e @ ConnectError::Tls(TlsError::Handshake(_))) => {
            let why = chain(&e);
            assert!(why.to_lowercase().contains("certificate"), "{why}");
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn roots_verify_the_chain_and_the_name() {
    let tls = ServerTls::self_signed(["localhost"]).unwrap();
    let roots = ServerTrust::roots_from_pem(tls.certificate_pem().as_bytes()).unwrap();
    let server = TestServer::with_config(ServerConfig::new("127.0.0.1:0", tls)).await;
    let client = TestClient::new(ClientConfig::new(server.address(), roots));
    within("connect", client.connect()).await.unwrap();
    assert_eq!(client.add(2, 2).await.unwrap(), 4);

    let unrelated = ServerTls::self_signed(["localhost"]).unwrap();
    let wrong_roots = ServerTrust::roots_from_pem(unrelated.certificate_pem().as_bytes()).unwrap();
    let client = TestClient::new(ClientConfig::new(server.address(), wrong_roots));
    assert!(matches!(
        within("refused connect", client.connect()).await,
        Err(ConnectError::Tls(TlsError::Handshake(_)))
    ));
}

#[tokio::test]
async fn plaintext_works_only_when_both_sides_opt_in() {
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let client = TestClient::new(ClientConfig::plaintext(format!(
        "ws://{}",
        server.address()
    )));
    within("connect", client.connect()).await.unwrap();
    assert_eq!(client.add(3, 4).await.unwrap(), 7);

    // A TLS client does not silently fall back to plaintext.
    let tls_client = TestClient::new_self_signed(&server.address(), Compression::none());
    assert!(
        within("failed connect", tls_client.connect())
            .await
            .is_err()
    );
    // And a ws:// URL needs the explicit plaintext configuration.
    let wrong = TestClient::new(ClientConfig::new_self_signed(format!(
        "ws://{}",
        server.address()
    )));
    assert!(matches!(
        wrong.connect().await,
        Err(ConnectError::InvalidAddress { .. })
    ));
}
