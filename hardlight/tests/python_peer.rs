//! Peers in another language, written from `docs/PROTOCOL.md` alone, against real servers: the
//! counter service (the document's reference service), with honest calls and hostile input; and the
//! kinds service (`common/kinds.rs`), whose methods take and return every layout of §4.3, which the
//! peer encodes and decodes with its own code (`peers/hlwire.py`); and the feed service
//! (`common/feed.rs`), whose streaming methods the peer calls with its own flow control (§5.11).
mod common;

#[path = "common/wide.rs"]
#[macro_use]
mod wide;

#[path = "common/kinds.rs"]
mod kinds;

#[path = "common/feed.rs"]
mod feed;

use std::process::Output;

use common::counter::{Counter, CounterHandler, DOCUMENTED_FINGERPRINT};
use common::{Served, within};
use feed::{Feed, FeedHandler};
use hardlight::*;
use kinds::KindsHandler;

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");
const PROTOCOL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");

/// Runs `peers/<script>` with `args`; fails the test if python3 is missing or it takes too long.
async fn run_peer(script: &str, args: &[&str]) -> Output {
    let run = tokio::process::Command::new("python3")
        .arg(format!("{PEERS}/{script}"))
        .args(args)
        .kill_on_drop(true)
        .output();
    within(script, run)
        .await
        .expect("python3 must be installed to run this test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_peer_written_from_the_spec_gets_the_documented_behaviour() {
    assert_eq!(
        hardlight::fingerprint::<dyn Counter>(),
        DOCUMENTED_FINGERPRINT,
        "the reference service's fingerprint is the one docs/PROTOCOL.md gives"
    );
    let server = Served::spawn(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(CounterHandler),
    )
    .await;
    let port = server.port.to_string();

    let output = run_peer("counter_peer.py", &["127.0.0.1", &port]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python peer failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_peer_sends_and_reads_every_layout_with_its_own_encoder() {
    let server = Served::spawn(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(KindsHandler),
    )
    .await;
    let port = server.port.to_string();

    let output = run_peer("kinds_peer.py", &["127.0.0.1", &port, PROTOCOL_MD]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(3),
        "the server refused the kinds peer's schema fingerprint (close 4001): \
         schema_fingerprint() in tests/peers/kinds_peer.py must follow docs/PROTOCOL.md §3\n\
         {stdout}\n{stderr}"
    );
    assert!(
        output.status.success(),
        "the kinds peer failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_peer_streams_with_its_own_flow_control() {
    let server = Served::spawn(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(FeedHandler),
    )
    .await;
    let port = server.port.to_string();

    let output = run_peer("feed_peer.py", &["127.0.0.1", &port, PROTOCOL_MD]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(
        output.status.code(),
        Some(3),
        "the server refused the feed peer's schema fingerprint (close 4001): \
         schema_text() in tests/peers/feed_peer.py must follow docs/PROTOCOL.md §3; the server's \
         text is\n{}\n{stdout}\n{stderr}",
        hardlight::schema::<dyn Feed>()
    );
    assert!(
        output.status.success(),
        "the feed peer failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
