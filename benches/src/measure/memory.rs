//! Server memory per idle connection: the server runs in a child process (this binary with
//! `--serve-idle`), whose resident set the parent reads from `/proc` before and after connecting.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use hardlight::CertFingerprint;
use tokio::time::Instant;

use super::fanout::CONNECT_PARALLELISM;
use super::{echo_checked, payload, within};
use crate::cert::BenchCert;
use crate::options::Plan;
use crate::systems::{Client, ClientTrust, RunningServer, System};
use crate::{BoxError, error};

/// How long the child may take to start serving.
const START_LIMIT: Duration = Duration::from_secs(30);
/// A child serves at most this long, even if its parent never closes its standard input.
const CHILD_LIFETIME: Duration = Duration::from_secs(600);
/// Pause before reading the resident set: the last replies have arrived, but the server's writers
/// may still be finishing and returning buffers. The resident set is sampled, not announced.
const SETTLE: Duration = Duration::from_millis(300);

/// KiB the server's resident set grows by per connection, over `plan.idle_connections`
/// connections that each made one 64 B echo call and then stayed open and idle. `None` where
/// `/proc` cannot be read (not Linux).
///
/// # Errors
/// If the child cannot be started or a connection fails.
pub async fn kib_per_idle_connection(
    system: System,
    plan: &Plan,
    workers: usize,
) -> Result<Option<f64>, BoxError> {
    if rss_kib(std::process::id()).is_err() {
        return Ok(None);
    }
    let port_file = std::env::temp_dir().join(format!(
        "hardlight-benches-{}-{}.port",
        std::process::id(),
        system.name()
    ));
    let _ = std::fs::remove_file(&port_file);
    let child = ServerChild::spawn(system, &port_file, workers)?;
    let result = measure(system, plan, &child, &port_file).await;
    child.stop().await;
    let _ = std::fs::remove_file(&port_file);
    result.map(Some)
}

async fn measure(
    system: System,
    plan: &Plan,
    child: &ServerChild,
    port_file: &Path,
) -> Result<f64, BoxError> {
    let (port, trust) = within(
        "waiting for the server process",
        START_LIMIT,
        read_port_file(port_file),
    )
    .await?;
    let small = payload(64);
    let connect_and_call = || async {
        let client = Client::connect(system, port, &trust).await?;
        echo_checked(&client, &small).await?;
        Ok::<_, BoxError>(client)
    };
    // One connection first, so that what the server sets up lazily is in the baseline.
    drop(connect_and_call().await?);
    tokio::time::sleep(SETTLE).await;
    let before = rss_kib(child.pid())?;
    let connections = plan.idle_connections;
    let clients: Vec<Client> = within(
        "connecting idle clients",
        Duration::from_secs(120),
        stream::iter(0..connections)
            .map(|_| connect_and_call())
            .buffer_unordered(CONNECT_PARALLELISM)
            .try_collect(),
    )
    .await?;
    tokio::time::sleep(SETTLE).await;
    let after = rss_kib(child.pid())?;
    drop(clients);
    Ok((after as f64 - before as f64) / connections as f64)
}

/// Waits for the child's port file: the port, the certificate fingerprint, then the certificate.
pub(crate) async fn read_port_file(path: &Path) -> Result<(u16, ClientTrust), BoxError> {
    loop {
        // The child writes it under another name and renames it, so it is complete once it exists.
        if let Ok(text) = std::fs::read_to_string(path) {
            return parse_port_file(&text);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn parse_port_file(text: &str) -> Result<(u16, ClientTrust), BoxError> {
    let mut lines = text.splitn(3, '\n');
    let bad = || error(format!("malformed port file: {text:?}"));
    let port = lines.next().and_then(|l| l.parse().ok()).ok_or_else(bad)?;
    let fingerprint = lines
        .next()
        .and_then(|l| CertFingerprint::from_str(l).ok())
        .ok_or_else(bad)?;
    let cert_pem = lines.next().ok_or_else(bad)?.to_owned();
    Ok((
        port,
        ClientTrust {
            fingerprint,
            cert_pem,
        },
    ))
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| error(format!("reading /proc/{pid}/status: {e}")))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| error(format!("no VmRSS in /proc/{pid}/status")))
}

/// The server process. It exits when its standard input closes; [`ServerChild::stop`] closes it and
/// waits, and dropping the value kills the process if it was not stopped.
struct ServerChild {
    child: Option<Child>,
}

impl ServerChild {
    fn spawn(system: System, port_file: &Path, workers: usize) -> Result<Self, BoxError> {
        let exe = std::env::current_exe()
            .map_err(|e| error(format!("cannot find this program to re-run it: {e}")))?;
        let child = Command::new(exe)
            .arg("--serve-idle")
            .arg(system.name())
            .arg(port_file)
            .args(["--workers", &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| error(format!("starting the server process: {e}")))?;
        Ok(Self { child: Some(child) })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Most connections the child's hardlight server accepts (`ServerConfig::max_connections`): more
/// than the many-connection figures open (10,000 idle beside 100 active), which hardlight's
/// default of 10,000 would refuse.
pub const CHILD_MAX_CONNECTIONS: usize = 20_000;

/// The child's side (`--serve-idle`): serves `system` on a runtime of `workers` threads, writes
/// the port file, then answers commands read from standard input, one a line, until it closes (or
/// for ten minutes at most). Each answer is one line on standard output:
///
/// - `publish FIRST COUNT`: publishes fan-out ticks `FIRST`, `FIRST + 1`, ... (`COUNT` of them)
///   back to back; answers `queued N`, the connections they were queued for, summed.
/// - `wait N`: answers `ok` once `N` connections are subscribed.
///
/// An unknown or failed command is answered `error MESSAGE`. The memory figure sends none.
///
/// # Errors
/// If the server cannot start or the port file cannot be written.
pub fn serve_idle(system: System, port_file: &Path, workers: usize) -> Result<(), BoxError> {
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        eprintln!("serve-idle: still running after {CHILD_LIFETIME:?}; exiting");
        std::process::exit(3);
    });
    let runtime = crate::run::runtime("server", workers)?;
    let cert = BenchCert::generate()?;
    let trust = ClientTrust::of(&cert)?;
    let server = runtime.block_on(RunningServer::start_sized(
        system,
        &cert,
        runtime.handle(),
        Some(CHILD_MAX_CONNECTIONS),
    ))?;
    let contents = format!("{}\n{}\n{}", server.port, trust.fingerprint, trust.cert_pem);
    let partial = PathBuf::from(format!("{}.partial", port_file.display()));
    std::fs::write(&partial, contents)
        .and_then(|()| std::fs::rename(&partial, port_file))
        .map_err(|e| error(format!("writing {}: {e}", port_file.display())))?;
    // Until the parent closes our standard input.
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        let reply = runtime
            .block_on(answer(&server, &line))
            .unwrap_or_else(|e| format!("error {e}"));
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    drop(server);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// The answer to one command line of [`serve_idle`].
async fn answer(server: &RunningServer, line: &str) -> Result<String, BoxError> {
    let number = |word: &str| {
        word.parse::<u64>()
            .map_err(|_| error(format!("bad number {word:?} in {line:?}")))
    };
    let words: Vec<&str> = line.split(' ').collect();
    match words[..] {
        ["publish", first, count] => {
            let first = number(first)?;
            let mut queued = 0;
            for seq in first..first + number(count)? {
                queued += server.publish(seq).await?;
            }
            Ok(format!("queued {queued}"))
        }
        ["wait", n] => {
            server.wait_for_subscribers(number(n)? as usize).await;
            Ok("ok".to_owned())
        }
        _ => Err(error(format!("unknown command {line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_resident_set() {
        if cfg!(target_os = "linux") {
            assert!(rss_kib(std::process::id()).unwrap() > 0);
        }
    }

    #[test]
    fn port_files_round_trip() {
        let cert = BenchCert::generate().unwrap();
        let trust = ClientTrust::of(&cert).unwrap();
        let text = format!("4242\n{}\n{}", trust.fingerprint, trust.cert_pem);
        let (port, parsed) = parse_port_file(&text).unwrap();
        assert_eq!(port, 4242);
        assert_eq!(parsed.fingerprint, trust.fingerprint);
        assert_eq!(parsed.cert_pem, trust.cert_pem);
        assert!(parse_port_file("not a port").is_err());
    }
}
