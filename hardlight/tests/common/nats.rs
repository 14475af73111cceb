//! A real `nats-server` as a child process on a held loopback port, killed when dropped.
//!
//! `scripts/test` installs `nats-server` when it is missing; without it these tests fail, they never
//! skip.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use super::HeldPort;

/// A `nats-server` child process, killed when dropped.
pub struct Nats {
    child: Child,
    pub port: u16,
    /// Held as long as any server started on it lives, so that a restart finds it free.
    held: Arc<HeldPort>,
}

impl Nats {
    /// A server without authentication on a port of its own.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with `args` (`--user`, `--pass`, `--auth` ...) on a port of its own.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_on(Arc::new(HeldPort::new()), args)
    }

    /// A server with `args` on `port`, where another may have run before (see [`Nats::restart`]).
    pub fn start_on(held: Arc<HeldPort>, args: &[&str]) -> Self {
        let child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &held.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        Self {
            child,
            port: held.port,
            held,
        }
    }

    /// A new server, without authentication, on this one's port (once this one is killed).
    pub fn restart(&self) -> Self {
        Self::start_on(self.held.clone(), &[])
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        nats_url(self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `nats://127.0.0.1:PORT`.
pub fn nats_url(port: u16) -> String {
    format!("nats://127.0.0.1:{port}")
}

fn nats_server_binary() -> String {
    let found = Command::new("which")
        .arg("nats-server")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match found {
        Some(path) if !path.is_empty() => path,
        _ => panic!(
            "nats-server is not installed; run `scripts/test`, which installs it (Debian package \
             `nats-server`) and runs the whole suite"
        ),
    }
}
