//! A server in a child process (this binary, re-run with `--serve-idle`) that the parent can
//! command: publish fan-out events, wait for subscribers.
//!
//! The figures with 10,000 connections need it: each connection is a descriptor on both ends, and
//! 10,000 client ends plus 10,000 server ends in one process would pass the open-files limit
//! (20,000 on the machine these figures were first taken on). With the server in a process of its
//! own, each side holds one end of each connection.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

use super::memory::read_port_file;
use super::within;
use crate::systems::{ClientTrust, System};
use crate::{BoxError, error};

/// How long the child may take to start serving.
const START_LIMIT: Duration = Duration::from_secs(30);

/// One command line for the child, and where its answer goes.
type Request = (String, oneshot::Sender<Result<String, BoxError>>);

/// A server of one system in a child process, and the thread that passes it commands. Dropping it
/// closes the child's standard input (it exits) and kills it if it is still running.
pub struct ServerProcess {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// What a client needs to trust it (the TLS systems).
    pub trust: ClientTrust,
    commands: Option<std::sync::mpsc::Sender<Request>>,
    child: Child,
    port_file: PathBuf,
}

/// A child started by [`ServerProcess::spawn`], not yet serving.
pub struct Spawned {
    child: Option<Child>,
    port_file: PathBuf,
}

impl ServerProcess {
    /// Starts the child: `system`'s server on a runtime of `workers` threads. Synchronous, so that
    /// it can run on a thread with a CPU affinity of its own, which the child inherits (see
    /// [`Unpinned`](crate::run::Unpinned)); [`Spawned::serving`] then waits until it serves.
    ///
    /// # Errors
    /// If the process cannot be started.
    pub fn spawn(system: System, workers: usize) -> Result<Spawned, BoxError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let port_file = std::env::temp_dir().join(format!(
            "hardlight-benches-{}-{}-{}.port",
            std::process::id(),
            system.name(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&port_file);
        let exe = std::env::current_exe()
            .map_err(|e| error(format!("cannot find this program to re-run it: {e}")))?;
        let child = Command::new(exe)
            .arg("--serve-idle")
            .arg(system.name())
            .arg(&port_file)
            .args(["--workers", &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| error(format!("starting the server process: {e}")))?;
        Ok(Spawned {
            child: Some(child),
            port_file,
        })
    }

    /// Starts the child as [`spawn`](Self::spawn) does, from this thread, and waits until it
    /// serves.
    ///
    /// # Errors
    /// If the process cannot be started or does not serve in time.
    pub async fn start(system: System, workers: usize) -> Result<Self, BoxError> {
        Self::spawn(system, workers)?.serving().await
    }

    /// Publishes ticks `first`, `first + 1`, ... (`count` of them) back to back in the child;
    /// returns how many connections they were queued for, summed.
    ///
    /// # Errors
    /// If the child fails or answers something else.
    pub async fn publish(&self, first: u64, count: u64) -> Result<usize, BoxError> {
        let answer = self.command(format!("publish {first} {count}")).await?;
        answer
            .strip_prefix("queued ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| error(format!("server process: publish answered {answer:?}")))
    }

    /// Resolves once `n` connections are subscribed in the child.
    ///
    /// # Errors
    /// If the child fails or answers something else.
    pub async fn wait_for_subscribers(&self, n: usize) -> Result<(), BoxError> {
        match self.command(format!("wait {n}")).await? {
            ok if ok == "ok" => Ok(()),
            other => Err(error(format!("server process: wait answered {other:?}"))),
        }
    }

    async fn command(&self, line: String) -> Result<String, BoxError> {
        let (answer_tx, answer) = oneshot::channel();
        self.commands
            .as_ref()
            .and_then(|commands| commands.send((line, answer_tx)).ok())
            .ok_or_else(|| error("server process: its command thread stopped"))?;
        answer
            .await
            .map_err(|_| error("server process: no answer"))?
    }
}

impl Spawned {
    /// Waits until the child serves (its port file is written), and starts the thread that passes
    /// it commands.
    ///
    /// # Errors
    /// If it does not serve in time.
    pub async fn serving(mut self) -> Result<ServerProcess, BoxError> {
        let (port, trust) = within(
            "waiting for the server process",
            START_LIMIT,
            read_port_file(&self.port_file),
        )
        .await?;
        let mut child = self
            .child
            .take()
            .ok_or_else(|| error("server process: already taken"))?;
        let port_file = std::mem::take(&mut self.port_file);
        let (commands, requests) = std::sync::mpsc::channel();
        let process = ServerProcess {
            port,
            trust,
            commands: Some(commands),
            child: {
                let pipes = (child.stdin.take(), child.stdout.take());
                let (Some(stdin), Some(stdout)) = pipes else {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(error("server process: no pipes"));
                };
                std::thread::spawn(move || pass_commands(stdin, stdout, requests));
                child
            },
            port_file,
        };
        Ok(process)
    }
}

/// Writes each request's line to the child and sends back the line it answers, until the
/// requests' sender is dropped (then the child's standard input closes, and it exits).
fn pass_commands(
    mut stdin: ChildStdin,
    stdout: ChildStdout,
    requests: std::sync::mpsc::Receiver<Request>,
) {
    let mut stdout = BufReader::new(stdout);
    for (line, answer) in requests {
        let mut read = String::new();
        let result = writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .and_then(|()| stdout.read_line(&mut read))
            .map_err(|e| error(format!("server process: {e}")))
            .and_then(|n| match n {
                0 => Err(error("server process: it exited")),
                _ => Ok(read.trim_end().to_owned()),
            });
        let failed = result.is_err();
        let _ = answer.send(result);
        if failed {
            return;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closes the child's standard input once the command thread ends: the child exits.
        drop(self.commands.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.port_file);
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Only a child that never served is still here; `serving` takes the others.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.port_file);
        }
    }
}
