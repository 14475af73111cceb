//! A headless Chromium driven through chromedriver with the W3C WebDriver protocol: JSON over
//! HTTP/1.1 on loopback, spoken here with a `TcpStream` per command.
//!
//! Chromium and chromedriver are the Debian packages `chromium` and `chromium-driver`; the README's
//! test command (`scripts/test`) installs them when they are missing. A test that needs them and does
//! not find them fails, saying so.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long chromedriver may take to start, and a page to load.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a script may run before WebDriver gives up on it.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where Debian puts the two binaries.
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/lib/chromium/chromium"];

/// A browser session: chromedriver, and the headless Chromium it started. Dropping it kills both.
pub struct Browser {
    port: u16,
    session: String,
    _driver: Child,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session of `width` × `height`,
    /// with `extra_args` on Chromium's command line.
    pub async fn launch(width: u32, height: u32, extra_args: &[String]) -> Self {
        let (driver, port) = start_driver().await;
        let mut browser = Self {
            port,
            session: String::new(),
            _driver: driver,
        };
        let mut options = json!({
            "args": [
                "--headless=new",
                // Root in a container has no user namespace for the sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
            ],
        });
        if let Some(args) = options["args"].as_array_mut() {
            args.extend(extra_args.iter().map(|arg| json!(arg)));
        }
        if let Some(binary) = CHROMIUM.iter().find(|path| Path::new(path).exists()) {
            options["binary"] = json!(binary);
        }
        let created = browser
            .command(
                "POST",
                "/session",
                json!({
                    "capabilities": {
                        "alwaysMatch": {
                            "browserName": "chrome",
                            "goog:chromeOptions": options,
                        }
                    }
                }),
            )
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver made no session: {created}"))
            .to_owned();
        browser
            .session_command(
                "POST",
                "/timeouts",
                json!({
                    "script": SCRIPT_TIMEOUT.as_millis() as u64,
                    "pageLoad": STARTUP.as_millis() as u64,
                }),
            )
            .await;
        browser
    }

    /// Loads `url` and waits for its `load` event.
    pub async fn goto(&self, url: &str) {
        self.session_command("POST", "/url", json!({ "url": url }))
            .await;
    }

    /// Runs `script` as the body of an async function with `args`; it finishes by calling its last
    /// argument, the callback, with a JSON-serialisable value, which this returns. Fails the test
    /// if the script does not call back within [`SCRIPT_TIMEOUT`].
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/async",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// The visible page as a PNG image.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .session_command("GET", "/screenshot", Value::Null)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a screenshot is a base64 string"))
            .expect("the screenshot is valid base64")
    }

    /// Resolves with the text of element `id` once it contains `expected`, as the page changes. Fails
    /// the test after [`SCRIPT_TIMEOUT`] with what the element last said.
    pub async fn wait_for_text(&self, id: &str, expected: &str) -> String {
        // A MutationObserver checks at every change of the element, so nothing polls.
        const SCRIPT: &str = r#"
            const [id, expected, done] = arguments;
            const element = document.getElementById(id);
            if (!element) { done({ error: `no #${id}` }); return; }
            const check = () => {
                if (element.textContent.includes(expected)) {
                    observer.disconnect();
                    done({ text: element.textContent });
                    return true;
                }
                return false;
            };
            const observer = new MutationObserver(check);
            if (!check()) {
                observer.observe(element, { childList: true, characterData: true, subtree: true });
            }
        "#;
        let result = self.execute_async(SCRIPT, json!([id, expected])).await;
        match result["text"].as_str() {
            Some(text) => text.to_owned(),
            None => panic!("waiting for #{id} to say {expected:?}: {result}"),
        }
    }

    /// The text of element `id` now.
    pub async fn text(&self, id: &str) -> String {
        let result = self
            .session_command(
                "POST",
                "/execute/sync",
                json!({
                    "script": "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
                    "args": [id],
                }),
            )
            .await;
        result
            .as_str()
            .unwrap_or_else(|| panic!("the page has no #{id}"))
            .to_owned()
    }

    /// Ends the session (closing Chromium); chromedriver goes with `self`.
    pub async fn quit(self) {
        self.session_command("DELETE", "", Value::Null).await;
    }

    async fn session_command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.command(method, &path, body).await
    }

    /// One WebDriver command; its `value`, or the test fails with WebDriver's error.
    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, response) = http(self.port, method, path, &body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let response: Value = serde_json::from_slice(&response).unwrap_or_else(|e| {
            panic!(
                "WebDriver {method} {path}: {e} in {:?}",
                String::from_utf8_lossy(&response)
            )
        });
        if status != 200 {
            panic!("WebDriver {method} {path} answered {status}: {response}");
        }
        response["value"].clone()
    }
}

/// The first of `paths` that exists, or the one on `PATH` called `name`; fails the test if none.
fn find(paths: &[&'static str], name: &str) -> &'static str {
    if let Some(path) = paths.iter().find(|path| Path::new(path).exists()) {
        return path;
    }
    panic!(
        "{name} is missing: install the Debian packages chromium and chromium-driver \
         (scripts/test does when run as root)"
    );
}

/// Starts chromedriver on a free port: the process and its port. A chromedriver that exits before
/// it says it started (seen now and then when several start at once on a loaded machine) is
/// started again, up to three times in all.
async fn start_driver() -> (Child, u16) {
    let driver_path = find(CHROMEDRIVER, "chromedriver");
    for attempt in 1..=3 {
        let mut driver = Command::new(driver_path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {driver_path}: {e}"));
        let stdout = driver.stdout.take().expect("piped stdout");
        let started = tokio::time::timeout(STARTUP, started_on(stdout))
            .await
            .expect("chromedriver did not say it started within a minute");
        match started {
            Some(port) => return (driver, port),
            None => {
                let status = driver.wait().await;
                eprintln!("chromedriver exited before it started ({status:?}), attempt {attempt}");
            }
        }
    }
    panic!("chromedriver exited before it started, three times");
}

/// The port in chromedriver's "ChromeDriver was started successfully on port N." line. Its later
/// output is drained so that it never blocks on a full pipe.
async fn started_on(stdout: tokio::process::ChildStdout) -> Option<u16> {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            let port = rest
                .trim_end_matches('.')
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("chromedriver's port in {line:?}: {e}"));
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Some(port);
        }
    }
    None
}

/// A request on a fresh connection, read to its end: the status and the body.
async fn http(port: u16, method: &str, path: &str, body: &Value) -> Result<(u16, Vec<u8>), String> {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).map_err(|e| e.to_string())?
    };
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; \
         charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(&body).await.map_err(|e| e.to_string())?;
    // Read the head, then exactly `Content-Length` bytes: chromedriver may keep the connection.
    let mut response = Vec::new();
    let split = loop {
        if let Some(split) = response.windows(4).position(|window| window == b"\r\n\r\n") {
            break split;
        }
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed before the end of the headers".into());
        }
        response.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|length| length.trim().parse().ok())
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    let mut body = response.split_off(split + 4);
    if body.len() < length {
        let start = body.len();
        body.resize(length, 0);
        stream
            .read_exact(&mut body[start..])
            .await
            .map_err(|e| e.to_string())?;
    }
    body.truncate(length);
    Ok((status, body))
}
