//! A client that accepts any certificate (`new_self_signed`, `ClientConfig::new_self_signed`) says so on
//! stderr even when no tracing subscriber is installed; a pinned client says nothing.
//!
//! The test runs itself again as a child process, with stderr not captured, and reads what the
//! child printed: the child connects with a pinned client first, then twice with accept-any ones.
mod common;

use std::process::Command;

use common::*;
use hardlight::tls::UNVERIFIED_WARNING;
use hardlight::*;

/// Set in the child's environment: it connects instead of spawning.
const CHILD: &str = "HARDLIGHT_ACCEPT_ANY_WARNING_CHILD";
/// What the child prints between its pinned and its accept-any connections.
const MARK: &str = "--- pinned client done ---";

#[tokio::test]
async fn accepting_any_certificate_warns_on_stderr_without_a_subscriber_and_pinning_does_not() {
    if std::env::var_os(CHILD).is_some() {
        return connect_pinned_then_accepting_any().await;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "accepting_any_certificate_warns_on_stderr_without_a_subscriber_and_pinning_does_not",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the test binary again");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child failed:\n{stderr}");
    let (before, after) = stderr
        .split_once(MARK)
        .unwrap_or_else(|| panic!("the child never got past its pinned client:\n{stderr}"));
    assert!(
        !before.contains("DISABLED"),
        "a pinned client warned:\n{stderr}"
    );
    // Two accept-any connections: one warning per process in a debug build, one each in release.
    let expected = if cfg!(debug_assertions) { 1 } else { 2 };
    assert_eq!(
        after.matches(UNVERIFIED_WARNING).count(),
        expected,
        "stderr:\n{stderr}"
    );
    for needed in ["DISABLED", "auth tokens", "ClientConfig::pinned"] {
        assert!(UNVERIFIED_WARNING.contains(needed), "{UNVERIFIED_WARNING}");
    }
}

async fn connect_pinned_then_accepting_any() {
    let server = TestServer::start().await;
    let pinned = server.client().await;
    assert_eq!(pinned.add(1, 2).await.unwrap(), 3);
    eprintln!("{MARK}");

    let generated = TestClient::new_self_signed(&server.address(), Compression::none());
    within("connect", generated.connect()).await.unwrap();
    assert_eq!(generated.add(2, 2).await.unwrap(), 4);
    let configured =
        TestClient::new(ClientConfig::new_self_signed(server.address()).auth_token("t"));
    within("connect", configured.connect()).await.unwrap();
}
