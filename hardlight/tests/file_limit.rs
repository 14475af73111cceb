//! Out of file descriptors: the server raises its open-files limit at bind and fits
//! `max_connections` to it, and when accepting fails for want of descriptors it backs off instead
//! of spinning, then serves again once descriptors are free.
//!
//! The limit is per process, so this file holds a single test (its own process).
#![cfg(target_os = "linux")]
mod common;

use std::fs::File;
use std::io::{Read, Seek};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hardlight::*;
use rlimit::Resource;
use tokio::net::TcpStream;

/// Connections left waiting in the listener's backlog while no descriptor is free; below any
/// kernel's default backlog (`somaxconn` is at least 128), so that every one is queued.
const WAITING: usize = 100;

/// CPU time this process has used, user and system, from `/proc/self/stat` opened beforehand (no
/// descriptor may be free when it is read). In clock ticks of 10 ms (Linux's `USER_HZ`).
fn cpu_ticks(stat: &mut File) -> u64 {
    let mut text = String::new();
    stat.rewind().expect("rewind /proc/self/stat");
    stat.read_to_string(&mut text)
        .expect("read /proc/self/stat");
    // After the command name, in parentheses: state, then 10 fields, then utime and stime.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let field = |i: usize| fields[i].parse::<u64>().expect("a number of ticks");
    field(11) + field(12)
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_backs_off_then_serves_again() {
    // A soft limit below the hard one: the server raises it at bind. The hard limit is lowered
    // too (for this process only), so that it cannot raise it further.
    let (_, hard) = Resource::NOFILE.get().expect("read RLIMIT_NOFILE");
    let hard = hard.min(512);
    Resource::NOFILE
        .set(hard / 4, hard)
        .expect("lower RLIMIT_NOFILE");

    let ctx = Arc::new(Ctx::new("file-limit"));
    let server = Server::new(
        // All the waiting connections come from 127.0.0.1 at once: not what this test is about.
        ServerConfig::plaintext("127.0.0.1:0").max_handshakes_per_ip(None),
        factory!(TestHandler, ctx),
    );
    let bound = server.bind().await.expect("bind");
    assert_eq!(
        Resource::NOFILE.get().expect("read RLIMIT_NOFILE"),
        (hard, hard),
        "the server raises the soft limit to the hard one"
    );
    assert!(
        bound.max_connections() < hard as usize,
        "max_connections ({}) is capped below the open-files limit ({hard})",
        bound.max_connections()
    );
    let port = bound.local_addr().expect("bound").port();
    let stats = bound.stats();
    let mut stat = File::open("/proc/self/stat").expect("open /proc/self/stat");

    // Connections wait in the backlog (nobody accepts yet), then every descriptor left is taken.
    let mut waiting = Vec::new();
    for _ in 0..WAITING {
        waiting.push(
            within("TCP connect", TcpStream::connect(("127.0.0.1", port)))
                .await
                .expect("TCP connect"),
        );
    }
    let mut filler = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        filler.push(file);
    }
    let task = tokio::spawn(bound.run());
    within("an accept to fail", async {
        while stats.accepts_failed() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    // A measurement window, not a synchronisation: a server that retries without pausing uses a
    // whole core meanwhile, and fails thousands of accepts.
    let window = Duration::from_secs(1);
    let (cpu_before, failed_before) = (cpu_ticks(&mut stat), stats.accepts_failed());
    tokio::time::sleep(window).await;
    let cpu = Duration::from_millis(10 * (cpu_ticks(&mut stat) - cpu_before));
    let failed = stats.accepts_failed() - failed_before;
    assert!(
        failed <= 10 && cpu < window / 5,
        "out of file descriptors for {window:?}, the server failed {failed} accepts and the \
         process used {cpu:?} of CPU: it does not back off"
    );
    assert_eq!(stats.connections(), 0);

    // Descriptors free again: the waiting connections (closed by now) are taken and dropped, and a
    // new client is served.
    drop(filler);
    drop(waiting);
    let (_ws, _hello) = raw_hardlight_plain(port).await;
    within(
        "the new client to be counted",
        stats.wait_for_connections(|n| n == 1),
    )
    .await;
    task.abort();
}
