//! The health check: a plain HTTP `GET` of the health path on the server's port answers 200 while
//! the server serves and 503 from the start of a graceful shutdown until its end; other plain
//! requests stay refused (400), and the path is configurable or off.
mod common;

use std::time::Duration;

use common::*;
use hardlight::*;

/// A plain `GET` of `path`.
async fn get(port: u16, path: &str) -> RawResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    raw_http(port, &request).await
}

#[tokio::test]
async fn the_health_check_answers_ok_while_serving() {
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    for path in ["/healthz", "/healthz?probe=liveness"] {
        let health = get(server.port, path).await;
        assert_eq!(
            (health.status.as_str(), health.body.as_str()),
            ("HTTP/1.1 200 OK", "ok\n"),
            "{}",
            health.text
        );
    }
    // Any other plain request is still not an upgrade.
    let other = get(server.port, "/health").await;
    assert_eq!(other.status, "HTTP/1.1 400 Bad Request", "{}", other.text);
    // The probes are not connections of the service; a client is served as before.
    let client = server.client().await;
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
}

#[tokio::test]
async fn the_health_path_is_configurable_or_off() {
    let moved =
        TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0").health_path(Some("/live")))
            .await;
    assert_eq!(get(moved.port, "/live").await.status, "HTTP/1.1 200 OK");
    assert_eq!(
        get(moved.port, "/healthz").await.status,
        "HTTP/1.1 400 Bad Request"
    );

    let off =
        TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0").health_path(None)).await;
    assert_eq!(
        get(off.port, "/healthz").await.status,
        "HTTP/1.1 400 Bad Request"
    );
}

#[tokio::test]
async fn the_health_check_answers_503_while_shutting_down() {
    let mut server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let port = server.port;
    let client = server.client().await;
    // A call in flight holds the grace period open.
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;
    assert_eq!(get(port, "/healthz").await.status, "HTTP/1.1 200 OK");

    server.shutdown.shutdown(Duration::from_secs(30));
    let health = get(port, "/healthz").await;
    assert_eq!(
        (health.status.as_str(), health.body.as_str()),
        ("HTTP/1.1 503 Service Unavailable", "shutting down\n"),
        "{}",
        health.text
    );
    // A new client is refused with 503 meanwhile.
    let request = upgrade_request("/", &test_offer(None).join(", "), "");
    let upgrade = raw_http(port, &request).await;
    assert_eq!(
        upgrade.status, "HTTP/1.1 503 Service Unavailable",
        "{}",
        upgrade.text
    );

    // The call finishes, the server stops, and the port no longer answers at all.
    server.ctx.gate.add_permits(1);
    assert_eq!(within("the gated call", call).await.unwrap().unwrap(), 1);
    within("run to return", server.stopped()).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "the listener is closed once the server has stopped"
    );
}

#[tokio::test]
async fn the_health_check_answers_over_tls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let connector = ServerTrust::AcceptAnyDangerous
        .connector()
        .expect("connector");
    let mut tls = within(
        "the TLS handshake",
        connector.connect(hardlight::tls::server_name("localhost").expect("name"), tcp),
    )
    .await
    .expect("TLS");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut response = String::new();
    within("the answer", tls.read_to_string(&mut response))
        .await
        .expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
}
