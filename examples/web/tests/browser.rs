//! The browser client in a real headless Chromium, against native servers on loopback:
//!
//! - `checks_pass_in_chromium_against_a_standalone_server`: the page `checks.html` runs the client's
//!   whole API (`src/checks.rs`, views and streams among it) against a standalone `Server`, then
//!   sees the typed error of the server's shutdown; `..._over_tls_...` does the same over `wss://`
//!   with the dev server's self-signed certificate, which that Chromium trusts, and an untrusted
//!   one is refused.
//! - `the_client_reconnects_in_chromium`: a client with a `Reconnect` policy comes back by itself
//!   when its server restarts on the same address.
//! - `a_slow_server_holds_back_one_way_messages_in_chromium`: one-way sends wait for room in the
//!   browser's send buffer instead of piling messages into it when the server reads slowly.
//! - `closes_are_clean_in_chromium`: a page's close and a server's shutdown both end with a clean
//!   close (`wasClean`, codes 1000 and 1001).
//! - `the_web_example_works_in_chromium`: the web example's app (page and mounted `/rpc` on one
//!   port) with a native client next to the browser, events both ways, and a screenshot of the page
//!   written to `target/web-example.png`.
//!
//! The client is built for wasm32 once per run (`Bundle::build`: a minute the first time).

mod webdriver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use hardlight::server::RateLimit;
use hardlight::{BoundServer, ClientConfig, ServerConfig};
use hardlight_web::app::{RunningApp, Tally, board_server, board_server_with};
use hardlight_web::bundle::Bundle;
use hardlight_web::service::{BoardClient, BoardEvent};
use serde_json::json;
use webdriver::Browser;

/// How long a native step may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// The browser client, built once for all the tests of this run.
async fn bundle() -> Arc<Bundle> {
    static BUNDLE: OnceLock<Arc<Bundle>> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        BUNDLE
            .get_or_init(|| {
                Arc::new(Bundle::build().unwrap_or_else(|e| panic!("building the client: {e}")))
            })
            .clone()
    })
    .await
    .expect("the build did not panic")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_in_chromium_against_a_standalone_server() {
    let server = board_server(ServerConfig::plaintext("127.0.0.1:0"))
        .bind()
        .await
        .expect("bind the standalone server");
    let url = format!("ws://{}", server.local_addr().unwrap());
    checks_then_shutdown(server, &url, &[]).await;
}

/// The dev server's self-signed certificate, trusted by this Chromium alone through
/// `--ignore-certificate-errors-spki-list` (as the README's "TLS in the browser" suggests): the
/// client verifies nothing itself, the browser does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_in_chromium_over_tls_with_a_trusted_dev_certificate() {
    let server = board_server(ServerConfig::new_self_signed("127.0.0.1:0"));
    let certificate = server
        .config()
        .tls()
        .expect("a TLS server")
        .certificate_der();
    let pin = spki_pin(certificate).expect("the certificate has a public key");
    let server = server.bind().await.expect("bind the standalone server");
    let url = format!("wss://{}", server.local_addr().unwrap());
    let flags = [format!("--ignore-certificate-errors-spki-list={pin}")];
    checks_then_shutdown(server, &url, &flags).await;
}

/// Without that flag the same server is refused: the browser verifies, and the client reports a
/// failed connection rather than talk to a server nobody vouched for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_refuses_an_untrusted_dev_certificate() {
    let server = board_server(ServerConfig::new_self_signed("127.0.0.1:0"))
        .bind()
        .await
        .expect("bind the standalone server");
    let url = format!("wss://{}", server.local_addr().unwrap());
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.run());
    let page = ChecksPage::open(&[]).await;
    let result = page.call("run_checks", json!([url])).await;
    let error = result["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an untrusted certificate was accepted: {result}"));
    assert!(
        error.contains("connect: could not open a WebSocket") && error.contains("untrusted"),
        "the client's error: {error}"
    );
    page.close().await;
    shutdown.shutdown(Duration::ZERO);
    serving.await.unwrap().unwrap();
}

/// The client reconnects by itself when its server goes away and comes back on the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reconnects_in_chromium() {
    let first = board_server(ServerConfig::plaintext("127.0.0.1:0"))
        .bind()
        .await
        .expect("bind the first server");
    let addr = first.local_addr().unwrap();
    let url = format!("ws://{addr}");
    let shutdown = first.shutdown_handle();
    let serving = tokio::spawn(first.run());
    let page = ChecksPage::open(&[]).await;
    let connected = page.call("connect_reconnecting", json!([url])).await;
    assert!(connected["ok"].is_string(), "connecting: {connected}");

    shutdown.shutdown(Duration::ZERO);
    tokio::time::timeout(PATIENCE, serving)
        .await
        .expect("the first server stopped")
        .unwrap()
        .unwrap();
    let second = board_server(ServerConfig::plaintext(addr.to_string()))
        .bind()
        .await
        .expect("bind the second server on the first one's address");
    let shutdown = second.shutdown_handle();
    let serving = tokio::spawn(second.run());

    let reconnected = page.call("await_reconnected", json!([])).await;
    let report = reconnected["ok"]
        .as_str()
        .unwrap_or_else(|| panic!("reconnecting failed in Chromium: {reconnected}"));
    println!("in Chromium: {report}");
    assert!(
        report.starts_with("Connected, Disconnected(Some(1001)), Reconnecting(1), "),
        "{report}"
    );
    assert!(
        report.ends_with("Connected; joined again (total 0)"),
        "{report}"
    );
    page.close().await;
    shutdown.shutdown(Duration::ZERO);
    serving.await.unwrap().unwrap();
}

/// A server that reads slowly holds back a browser client's one-way messages: each send resolves
/// only once the browser's send buffer has room, as a native client's waits for its socket. So when
/// the last of many large notes has been sent, most of them have already reached the server, and
/// the rest, still on their way (the kernel's buffers, the browser's, the client's high-water
/// mark), arrive in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_holds_back_one_way_messages_in_chromium() {
    const NOTES: u64 = 1024;
    const NOTE: u64 = 64 * 1024;
    /// More than the buffers between the page and the server hold (measured: about 5 MiB on
    /// loopback, 1 MiB of it the client's high-water mark), and half of all that is sent.
    const ON_THE_WAY: u64 = NOTES * NOTE / 2;
    let tally = Arc::new(Tally::default());
    // 256 notes (16 MiB) a second: sending all of them takes about four seconds.
    let config = ServerConfig::plaintext("127.0.0.1:0")
        .call_rate_limit(RateLimit::per_second(256).burst(16));
    let server = board_server_with(config, tally.clone())
        .bind()
        .await
        .expect("bind the standalone server");
    let url = format!("ws://{}", server.local_addr().unwrap());
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.run());
    let page = ChecksPage::open(&[]).await;

    let sent = page.call("pin_notes", json!([url, NOTES, NOTE])).await;
    let arrived = tally.pinned_bytes();
    assert!(sent["ok"].is_string(), "sending the notes: {sent}");
    println!(
        "in Chromium: {NOTES} notes of {NOTE} bytes sent; {arrived} bytes had arrived by then"
    );
    assert!(
        NOTES * NOTE - arrived <= ON_THE_WAY,
        "the last send resolved with {} of {} bytes not yet at the server: the client let them \
         pile up in the browser",
        NOTES * NOTE - arrived,
        NOTES * NOTE
    );
    tokio::time::timeout(PATIENCE, tally.pinned_at_least(NOTES * NOTE))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "only {} of {} bytes arrived",
                tally.pinned_bytes(),
                NOTES * NOTE
            )
        });
    page.close().await;
    shutdown.shutdown(Duration::ZERO);
    serving.await.unwrap().unwrap();
}

/// Closes are clean in a browser's eyes (`CloseEvent.wasClean`): a page's own close is answered
/// with a close frame before the server drops the connection, and a server shutting down sends its
/// close frame and waits for the answer. Raw WebSockets from the page's script, so that only the
/// protocol is tested here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_are_clean_in_chromium() {
    let server = board_server(ServerConfig::plaintext("127.0.0.1:0"))
        .bind()
        .await
        .expect("bind the standalone server");
    let url = format!("ws://{}", server.local_addr().unwrap());
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.run());
    let offer = hardlight::__private::wire::handshake::client_offer(
        hardlight::fingerprint::<dyn hardlight_web::service::Board>(),
        None,
    );
    let page = ChecksPage::open(&[]).await;
    // Opens a WebSocket as window[name], resolving once HELLO arrived; `window[name + "Closed"]`
    // resolves with the close event's fields.
    const OPEN: &str = r#"
        const [url, offer, name, done] = arguments;
        const ws = new WebSocket(url, offer);
        ws.binaryType = "arraybuffer";
        window[name] = ws;
        window[name + "Closed"] = new Promise((closed) => {
            ws.onclose = (e) => closed({ wasClean: e.wasClean, code: e.code, reason: e.reason });
        });
        ws.onmessage = () => done({ ok: "hello" });
        ws.onerror = () => done({ error: "error before HELLO" });
    "#;
    const CLOSED: &str = r#"
        const [name, done] = arguments;
        window[name + "Closed"].then(done);
    "#;

    let opened = page
        .browser
        .execute_async(OPEN, json!([url, offer, "mine"]))
        .await;
    assert_eq!(opened["ok"], "hello", "{opened}");
    let closed = page
        .browser
        .execute_async(
            &format!("window.mine.close(1000, 'bye'); {CLOSED}"),
            json!(["mine"]),
        )
        .await;
    assert_eq!(
        (closed["wasClean"].as_bool(), closed["code"].as_u64()),
        (Some(true), Some(1000)),
        "the page's own close: {closed}"
    );

    let opened = page
        .browser
        .execute_async(OPEN, json!([url, offer, "theirs"]))
        .await;
    assert_eq!(opened["ok"], "hello", "{opened}");
    let (closed, ()) = tokio::join!(
        page.browser.execute_async(CLOSED, json!(["theirs"])),
        async { shutdown.shutdown(Duration::from_secs(1)) }
    );
    assert_eq!(
        (closed["wasClean"].as_bool(), closed["code"].as_u64()),
        (Some(true), Some(1001)),
        "the server's shutdown: {closed}"
    );
    tokio::time::timeout(PATIENCE, serving)
        .await
        .expect("the server stopped after its shutdown")
        .unwrap()
        .unwrap();
    page.close().await;
}

/// The test page, `checks.html`, open in a new Chromium. An app of its own serves it: the page
/// comes from another origin than the servers it connects to, as a page and an API server often do.
struct ChecksPage {
    pages: RunningApp,
    browser: Browser,
}

impl ChecksPage {
    /// Serves the page and opens it in a Chromium started with `flags`.
    async fn open(flags: &[String]) -> Self {
        let pages = RunningApp::start(loopback(), bundle().await).await.unwrap();
        let browser = Browser::launch(800, 600, flags).await;
        browser.goto(&format!("{}checks.html", pages.url())).await;
        Self { pages, browser }
    }

    /// Calls the page's `window.hardlight[function](...args)`: `{ ok }` with what it resolved to,
    /// or `{ error }`.
    async fn call(&self, function: &str, args: serde_json::Value) -> serde_json::Value {
        self.browser
            .execute_async(
                r#"
                const [name, args, done] = arguments;
                window.hardlight
                    .then((page) => page[name](...args))
                    .then((ok) => done({ ok }), (error) => done({ error: String(error) }));
                "#,
                json!([function, args]),
            )
            .await
    }

    /// Quits the browser and stops serving the page.
    async fn close(self) {
        self.browser.quit().await;
        self.pages.shutdown(Duration::ZERO).await;
    }
}

/// Runs `checks.html`, in a Chromium started with `flags`, against the board server `server` (not
/// yet running) at `url`, then shuts the server down and checks what the page saw.
async fn checks_then_shutdown(server: BoundServer, url: &str, flags: &[String]) {
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.run());
    let page = ChecksPage::open(flags).await;
    let result = page.call("run_checks", json!([url])).await;
    let report = result["ok"]
        .as_str()
        .unwrap_or_else(|| panic!("the checks failed in Chromium: {result}"));
    println!("checks in Chromium: {report}");
    assert!(
        report.contains(
            "views: argument read in place on the server, reply read in place in the browser"
        ),
        "the checks did not report views: {report}"
    );
    assert!(
        report.contains(
            "stream: 1000 items in order past the credit of 256 KiB (500 KB of bars), each after its state change"
        ),
        "the checks did not report a stream: {report}"
    );
    assert!(
        report.contains("stream refused with a typed handler error"),
        "the checks did not report a refused stream: {report}"
    );
    assert!(
        report.contains("300 streams dropped early, each cancelled; the connection goes on"),
        "the checks did not report dropped streams: {report}"
    );
    assert!(
        report.contains("bidirectional: 3 lines shouted back, each before the next was sent"),
        "the checks did not report a bidirectional stream: {report}"
    );
    assert!(
        report.contains("byte stream: 600 KB written and read back at once"),
        "the checks did not report a byte stream: {report}"
    );
    assert!(
        report.contains("trace context and metadata reached the handler"),
        "the checks did not report trace context and metadata: {report}"
    );

    // The server shuts down while the page waits for the close.
    let (closed, ()) = tokio::join!(page.call("await_close", json!([])), async {
        shutdown.shutdown(Duration::from_secs(1))
    },);
    let closed = closed["ok"]
        .as_str()
        .unwrap_or_else(|| panic!("the page did not see the close: {closed}"));
    println!("in Chromium: {closed}");
    assert!(
        closed.starts_with("closed: Some(1001) "),
        "the client's error for a server shutting down: {closed}"
    );
    assert!(
        closed.contains("; call: NotConnected"),
        "a call after the close: {closed}"
    );
    tokio::time::timeout(PATIENCE, serving)
        .await
        .expect("the server stopped after its shutdown")
        .unwrap()
        .unwrap();
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_example_works_in_chromium() {
    let bundle = bundle().await;
    let app = RunningApp::start(loopback(), bundle).await.unwrap();

    let browser = Browser::launch(900, 640, &[]).await;
    browser.goto(&app.url()).await;
    let status = browser.wait_for_text("status", "connected to ").await;
    assert!(status.contains(&app.rpc_url()), "the page says {status:?}");
    let visitor = browser.wait_for_text("visitor", " · bumps: 0").await;
    let browser_name = visitor.trim_end_matches(" · bumps: 0").to_owned();

    // A native client on the same route: its bump reaches the page as an event.
    let native = BoardClient::new(ClientConfig::plaintext(app.rpc_url()));
    native.connect().await.unwrap();
    let mut events = native.subscribe().await.unwrap();
    assert_eq!(native.join("native".into()).await.unwrap(), 0);
    assert_eq!(native.bump(2).await.unwrap(), 2);
    browser
        .wait_for_text("log", "native added 2: the total is 2")
        .await;
    assert_eq!(browser.text("total").await, "2");

    // The page's button: its call changes the page's state, and the native client hears of it.
    browser
        .execute_async(
            "const [done] = arguments; document.getElementById('bump').click(); done(null);",
            json!([]),
        )
        .await;
    browser.wait_for_text("visitor", " · bumps: 1").await;
    browser.wait_for_text("total", "3").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("the native client hears the bumps")
            .unwrap();
        seen.push(event.payload);
    }
    assert_eq!(
        seen,
        [
            BoardEvent::Bumped {
                by: "native".into(),
                amount: 2,
                total: 2
            },
            BoardEvent::Bumped {
                by: browser_name,
                amount: 1,
                total: 3
            },
        ]
    );
    browser
        .wait_for_text("log", "added 1: the total is 3")
        .await;

    let png = browser.screenshot().await;
    let (width, height) = png_size(&png).expect("the screenshot is a PNG");
    assert!(
        width >= 400 && height >= 300,
        "the screenshot is {width}×{height}"
    );
    let path = screenshot_path();
    std::fs::write(&path, &png).unwrap();
    println!("screenshot of the web example: {}", path.display());

    // The app shuts down: the page says why its connection ended.
    let (status, ()) = tokio::join!(browser.wait_for_text("status", "disconnected: "), async {
        tokio::time::timeout(PATIENCE, app.shutdown(Duration::from_secs(1)))
            .await
            .expect("the app shut down")
    });
    assert!(status.contains("1001"), "the page says {status:?}");
    browser.quit().await;
}

/// The width and height in a PNG's header, if `bytes` starts like a PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((width, height))
}

/// `target/web-example.png` in the workspace (or under `CARGO_TARGET_DIR`).
fn screenshot_path() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("web-example.png")
}

/// The key pin Chromium's `--ignore-certificate-errors-spki-list` takes: the base64 of the SHA-256
/// of the certificate's SubjectPublicKeyInfo, found by walking the DER (RFC 5280 4.1): Certificate
/// → TBSCertificate → [0] version, serial, signature, issuer, validity, subject, then the key.
fn spki_pin(certificate: &[u8]) -> Option<String> {
    /// One DER element at the start of `der`: its whole encoding, and its contents.
    fn element(der: &[u8]) -> Option<(&[u8], &[u8])> {
        let first = *der.get(1)? as usize;
        let (length, header) = if first < 0x80 {
            (first, 2)
        } else {
            let size = first & 0x7f;
            let bytes = der.get(2..2 + size)?;
            (
                bytes.iter().fold(0usize, |n, &b| (n << 8) | b as usize),
                2 + size,
            )
        };
        let whole = der.get(..header + length)?;
        Some((whole, &whole[header..]))
    }
    let (_, certificate) = element(certificate)?;
    let (_, mut tbs) = element(certificate)?;
    // The optional explicit version, [0].
    if tbs.first() == Some(&0xa0) {
        tbs = &tbs[element(tbs)?.0.len()..];
    }
    for _ in 0..5 {
        tbs = &tbs[element(tbs)?.0.len()..];
    }
    let (spki, _) = element(tbs)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}
