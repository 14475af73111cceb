//! `cargo run --release -p hardlight-benches --bin compare [-- --quick] [--workers N] [--spread]`:
//! measures every system and prints a markdown report; see the crate docs for what is compared.
//!
//! Exits 0 when every figure was measured, 1 when one failed (the table shows `error` and standard
//! error says why), 2 on a bad command line.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hardlight_benches::BoxError;
use hardlight_benches::alloc_count::Counting;
use hardlight_benches::cert::BenchCert;
use hardlight_benches::measure::memory;
use hardlight_benches::options::{Command, Options, Plan, USAGE};
use hardlight_benches::plot;
use hardlight_benches::run::{Placement, Unpinned, compare, runtime};

/// Counts allocations per side while a measurement asks it to (the `allocs` group).
#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() -> ExitCode {
    let command = match Command::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A thousand connections, both ends in this process, need more descriptors than the usual
    // soft limit of 1024.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the open-files limit: {e}");
    }
    let outcome = match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(true)
        }
        Command::ServeIdle {
            system,
            port_file,
            workers,
        } => memory::serve_idle(system, Path::new(&port_file), workers).map(|()| true),
        Command::Compare(options) => run(&options),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the comparison and prints the report; `Ok(false)` if a figure failed.
fn run(options: &Options) -> Result<bool, BoxError> {
    let started = Instant::now();
    let plan = Plan::for_options(options);
    // Before pinning: it keeps the affinity the process started with, for the scaling group.
    let unpinned = Unpinned::start()?;
    // Before any thread is started: threads inherit the affinity of the one that starts them.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placement = if options.spread {
        Placement::Spread { cpus }
    } else {
        Placement::Pinned {
            cpu: pin_to_one_cpu()?,
            cpus,
        }
    };
    let servers = runtime("server", options.workers)?;
    let clients = runtime("client", options.workers)?;
    let cert = BenchCert::generate()?;
    // Spawned rather than run by `block_on`, which would poll it on this thread: the client side must
    // have exactly the client runtime's workers, as the server side has the server runtime's.
    let measuring = {
        let (options, servers) = (options.clone(), servers.handle().clone());
        clients.spawn(async move {
            compare(&options, &plan, placement, &servers, &cert, &unpinned).await
        })
    };
    let report = clients
        .block_on(measuring)
        .map_err(|e| format!("the measurements panicked: {e}"))?;
    print!("{}", report.render());
    if let Some(path) = &options.plot {
        plot::write(&report, Path::new(path))?;
        eprintln!("plot written to {path}");
    }
    clients.shutdown_timeout(Duration::from_secs(1));
    servers.shutdown_timeout(Duration::from_secs(1));
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(report.is_complete())
}

/// Pins this thread, and so every thread it starts, to the first CPU it may run on; returns the CPU.
fn pin_to_one_cpu() -> Result<usize, BoxError> {
    let cpu = core_affinity::get_core_ids()
        .and_then(|ids| ids.into_iter().next())
        .ok_or("could not read this process's CPU affinity; run with --spread")?;
    if !core_affinity::set_for_current(cpu) {
        return Err(format!("could not pin to CPU {}; run with --spread", cpu.id).into());
    }
    Ok(cpu.id)
}
