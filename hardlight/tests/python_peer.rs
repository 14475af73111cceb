//! A peer in another language, written from `docs/PROTOCOL.md` alone, against a real server of the
//! counter service (the document's reference service): honest calls and hostile input.
mod common;

use common::counter::{Counter, CounterHandler, DOCUMENTED_FINGERPRINT};
use common::{Served, within};
use hardlight::*;

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
    let port = server.port;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/counter_peer.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .kill_on_drop(true)
        .output();
    let output = within("the python peer", run)
        .await
        .expect("python3 must be installed to run this test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python peer failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
