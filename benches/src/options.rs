//! The command line, and the counts and time limits a run uses.

use std::time::Duration;

use crate::systems::System;
use crate::{BoxError, error};

/// What the `compare` binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run every measurement and print the report.
    Compare(Options),
    /// Internal: serve `system` in this process until standard input closes, writing the port (and,
    /// for TLS, the certificate) to `port_file`. The parent measures this process's memory.
    ServeIdle {
        /// The system to serve.
        system: System,
        /// Where to write the port and certificate.
        port_file: String,
        /// Worker threads of the server runtime.
        workers: usize,
    },
    /// Print the usage and exit.
    Help,
}

/// Options of a comparison run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Worker threads of the server runtime, and again of the client runtime.
    pub workers: usize,
    /// Small counts: every row, in well under a minute (the CI smoke test).
    pub quick: bool,
    /// Let the OS spread the threads over every CPU, instead of pinning the process to one.
    pub spread: bool,
    /// The groups of figures to measure (`--only`); every group when `None`.
    pub only: Option<Vec<Group>>,
    /// The systems to measure (`--systems`); every system when `None`.
    pub systems: Option<Vec<System>>,
    /// Worker counts of the scaling table's columns (`--scale-workers`, default `1,2`).
    pub scale_workers: Vec<usize>,
    /// Where to write the plot of calls/s against calls in flight (`--plot PATH`), an SVG.
    pub plot: Option<String>,
}

impl Options {
    /// Whether this run measures `group`.
    pub fn runs(&self, group: Group) -> bool {
        self.only.as_ref().is_none_or(|only| {
            only.contains(&group)
                || (matches!(group, Group::Items | Group::Bytes) && only.contains(&Group::Streams))
        })
    }

    /// Whether this run measures `system`.
    pub fn measures(&self, system: System) -> bool {
        self.systems
            .as_ref()
            .is_none_or(|systems| systems.contains(&system))
    }
}

/// A group of figures, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Unary latency, one call at a time.
    Latency,
    /// The large-message latency table.
    Large,
    /// Calls per second with calls in flight.
    Throughput,
    /// The item stream and the byte stream.
    Streams,
    /// The item stream alone.
    Items,
    /// The byte stream alone.
    Bytes,
    /// Allocations per call, each side.
    Allocs,
    /// Fan-out of one event.
    Fanout,
    /// Server memory per idle connection.
    Memory,
    /// Many connections: 1,000 busy ones, and 100 active ones beside 10,000 idle ones.
    Connections,
    /// Calls per second with 1, 2, ... server (and client) worker threads, threads spread.
    Scaling,
    /// Events across servers: two hardlight servers bridged through a real `nats-server`.
    Nats,
    /// hardlight with metrics off, on without a recorder, and on with a Prometheus recorder. Always
    /// measured last: it installs a global recorder, which cannot be uninstalled.
    Metrics,
}

impl Group {
    /// Every group, by its name on the command line.
    pub const ALL: [(Group, &'static str); 13] = [
        (Group::Latency, "latency"),
        (Group::Large, "large"),
        (Group::Throughput, "throughput"),
        (Group::Streams, "streams"),
        (Group::Items, "items"),
        (Group::Bytes, "bytes"),
        (Group::Allocs, "allocs"),
        (Group::Fanout, "fanout"),
        (Group::Memory, "memory"),
        (Group::Connections, "connections"),
        (Group::Scaling, "scaling"),
        (Group::Nats, "nats"),
        (Group::Metrics, "metrics"),
    ];

    /// The group called `name`.
    ///
    /// # Errors
    /// If no group has that name.
    pub fn from_name(name: &str) -> Result<Self, BoxError> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(group, _)| *group)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                error(format!(
                    "--only {name}: expected some of {}",
                    names.join(", ")
                ))
            })
    }
}

/// The usage text.
pub const USAGE: &str = "\
usage: compare [--quick] [--workers N] [--spread] [--only GROUP,...] [--systems SYSTEM,...]
               [--scale-workers N,...] [--plot PATH]

  --quick       every row with small counts (a smoke test: under a minute)
  --workers N   worker threads of the server runtime and of the client runtime (default 1)
  --spread      let the threads run on every CPU (default: the process is pinned to one CPU)
  --only G,...  measure only these groups of figures (latency, large, throughput, streams,
                allocs, fanout, memory, connections, scaling, nats, metrics; `items` and
                `bytes` are the two halves of `streams`; `fanout` is both fan-out figures: to
                1,000 connections in the main table and to 10,000 in a table of its own; `nats`:
                events across two hardlight servers bridged through a `nats-server` this run
                starts, found on PATH or in /usr/sbin, or named by NATS_SERVER=PATH; without it
                its cells say so, and with CI=true the run fails); the others show as `skipped`
  --scale-workers N,...  the scaling table's worker counts (default 1,2), e.g. 1,2,4,8,16
  --plot PATH   after the run, write an SVG of calls/s against calls in flight (the throughput
                group: 1, 16, 256) for hardlight, tonic and raw_ws to PATH
  --systems S,... measure only these systems (hardlight, hardlight_views, hardlight_tls,
                hardlight_tls_deflate, tonic, tonic_tls, raw_ws)";

impl Command {
    /// Parses the arguments after the program name.
    ///
    /// # Errors
    /// A message saying which argument is wrong.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, BoxError> {
        let mut args = args.into_iter();
        let mut options = Options {
            workers: 1,
            quick: false,
            spread: false,
            only: None,
            systems: None,
            scale_workers: vec![1, 2],
            plot: None,
        };
        let mut serve_idle = None;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--spread" => options.spread = true,
                "--workers" => {
                    let value = args
                        .next()
                        .ok_or_else(|| error("--workers needs a number"))?;
                    options.workers = value.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                        error(format!("--workers {value}: expected a number ≥ 1"))
                    })?;
                }
                "--only" => {
                    let value = args
                        .next()
                        .ok_or_else(|| error("--only needs a list of groups"))?;
                    let groups = value
                        .split(',')
                        .map(Group::from_name)
                        .collect::<Result<Vec<_>, _>>()?;
                    options.only = Some(groups);
                }
                "--systems" => {
                    let value = args
                        .next()
                        .ok_or_else(|| error("--systems needs a list of systems"))?;
                    let systems = value
                        .split(',')
                        .map(System::from_name)
                        .collect::<Result<Vec<_>, _>>()?;
                    options.systems = Some(systems);
                }
                "--scale-workers" => {
                    let value = args
                        .next()
                        .ok_or_else(|| error("--scale-workers needs a list of numbers"))?;
                    options.scale_workers = value
                        .split(',')
                        .map(|n| n.parse().ok().filter(|&n: &usize| n >= 1))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            error(format!("--scale-workers {value}: expected numbers ≥ 1"))
                        })?;
                }
                "--plot" => {
                    let value = args.next().ok_or_else(|| error("--plot needs a path"))?;
                    options.plot = Some(value);
                }
                "--serve-idle" => {
                    let system = args
                        .next()
                        .ok_or_else(|| error("--serve-idle needs a system"))?;
                    let port_file = args
                        .next()
                        .ok_or_else(|| error("--serve-idle needs a port file"))?;
                    serve_idle = Some((System::from_name(&system)?, port_file));
                }
                "-h" | "--help" => return Ok(Self::Help),
                other => return Err(error(format!("unknown argument {other:?}\n{USAGE}"))),
            }
        }
        if options.plot.is_some() && !options.runs(Group::Throughput) {
            return Err(error(
                "--plot draws the throughput group's figures: add `throughput` to --only",
            ));
        }
        Ok(match serve_idle {
            Some((system, port_file)) => Self::ServeIdle {
                system,
                port_file,
                workers: options.workers,
            },
            None => Self::Compare(options),
        })
    }
}

/// The counts and time limits of one run. Every loop stops at whichever comes first.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Calls made before the latency samples, to warm caches and connections.
    pub latency_warmup: u64,
    /// Latency samples per payload size.
    pub latency_samples: u64,
    /// Time limit of one latency cell (warm-up included).
    pub latency_time: Duration,
    /// Warm-up before each throughput window.
    pub throughput_warmup: Duration,
    /// Length of each throughput window.
    pub throughput_window: Duration,
    /// Calls a throughput window may make at most.
    pub throughput_max_calls: u64,
    /// Items of the measured stream (64 B each).
    pub stream_items: u64,
    /// Bytes of the measured byte stream (a multiple of 64 KiB).
    pub stream_bytes: u64,
    /// Streams measured one after another for each stream figure, which is their median.
    pub stream_runs: usize,
    /// Subscribed connections in the fan-out figure.
    pub fanout_connections: usize,
    /// Emits measured in the fan-out figure (after one warm-up emit).
    pub fanout_emits: usize,
    /// Idle connections in the memory figure.
    pub idle_connections: usize,
    /// Subscribed connections of the many-subscriber fan-out table (server in a child process).
    pub fanout_many_connections: usize,
    /// Events of each burst in the many-subscriber fan-out table, published back to back.
    pub fanout_burst: usize,
    /// Busy connections of the many-connections figure and of the scaling table.
    pub many_connections: usize,
    /// Calls in flight on each busy or active connection.
    pub calls_per_connection: usize,
    /// Active connections measured with and without the idle ones.
    pub active_connections: usize,
    /// Idle connections beside the active ones (server in a child process).
    pub idle_beside_active: usize,
    /// Calls counted in the allocations figure (after a warm-up of a tenth as many).
    pub alloc_calls: u64,
    /// Events of the across-servers events/s figure.
    pub nats_events: u64,
    /// Latency samples of the across-servers table, one event at a time.
    pub nats_samples: u64,
}

impl Plan {
    /// The plan for these options.
    pub fn for_options(options: &Options) -> Self {
        if options.quick {
            Self {
                latency_warmup: 50,
                latency_samples: 300,
                latency_time: Duration::from_secs(2),
                throughput_warmup: Duration::from_millis(50),
                throughput_window: Duration::from_millis(200),
                throughput_max_calls: 200_000,
                stream_items: 50_000,
                stream_bytes: 64 << 20,
                stream_runs: 3,
                fanout_connections: 100,
                fanout_emits: 5,
                idle_connections: 100,
                fanout_many_connections: 200,
                fanout_burst: 10,
                many_connections: 50,
                calls_per_connection: 8,
                active_connections: 10,
                idle_beside_active: 500,
                alloc_calls: 1_000,
                nats_events: 2_000,
                nats_samples: 100,
            }
        } else {
            Self {
                latency_warmup: 1_000,
                latency_samples: 20_000,
                latency_time: Duration::from_secs(4),
                throughput_warmup: Duration::from_millis(300),
                throughput_window: Duration::from_secs(2),
                throughput_max_calls: 2_000_000,
                stream_items: 1_000_000,
                stream_bytes: 1 << 30,
                stream_runs: 5,
                fanout_connections: 1_000,
                fanout_emits: 21,
                idle_connections: 1_000,
                fanout_many_connections: 10_000,
                fanout_burst: 20,
                many_connections: 1_000,
                calls_per_connection: 8,
                active_connections: 100,
                idle_beside_active: 10_000,
                alloc_calls: 20_000,
                nats_events: 100_000,
                nats_samples: 1_000,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, BoxError> {
        Command::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_to_one_worker_and_a_full_run() {
        assert_eq!(
            parse(&[]).unwrap(),
            Command::Compare(Options {
                workers: 1,
                quick: false,
                spread: false,
                only: None,
                systems: None,
                scale_workers: vec![1, 2],
                plot: None,
            })
        );
    }

    #[test]
    fn reads_quick_workers_and_serve_idle() {
        assert_eq!(
            parse(&["--quick", "--workers", "2", "--spread"]).unwrap(),
            Command::Compare(Options {
                workers: 2,
                quick: true,
                spread: true,
                only: None,
                systems: None,
                scale_workers: vec![1, 2],
                plot: None,
            })
        );
        let Command::Compare(options) = parse(&["--only", "streams,latency"]).unwrap() else {
            panic!("--only is a comparison");
        };
        assert_eq!(options.only, Some(vec![Group::Streams, Group::Latency]));
        assert!(options.runs(Group::Streams) && !options.runs(Group::Memory));
        assert!(options.runs(Group::Items) && options.runs(Group::Bytes));
        let Command::Compare(options) = parse(&["--only", "metrics"]).unwrap() else {
            panic!("--only is a comparison");
        };
        assert!(options.runs(Group::Metrics) && !options.runs(Group::Latency));
        let Command::Compare(options) = parse(&["--only", "nats"]).unwrap() else {
            panic!("--only is a comparison");
        };
        assert!(options.runs(Group::Nats) && !options.runs(Group::Fanout));
        let Command::Compare(options) =
            parse(&["--only", "throughput", "--plot", "benches/throughput.svg"]).unwrap()
        else {
            panic!("--plot is a comparison");
        };
        assert_eq!(options.plot.as_deref(), Some("benches/throughput.svg"));
        let Command::Compare(options) = parse(&["--systems", "raw_ws,hardlight"]).unwrap() else {
            panic!("--systems is a comparison");
        };
        assert!(options.measures(System::RawWs) && !options.measures(System::Tonic));
        let Command::Compare(options) = parse(&[
            "--only",
            "connections,scaling",
            "--scale-workers",
            "1,2,4,8,16",
        ])
        .unwrap() else {
            panic!("--scale-workers is a comparison");
        };
        assert!(options.runs(Group::Connections) && options.runs(Group::Scaling));
        assert!(!options.runs(Group::Fanout));
        assert_eq!(options.scale_workers, [1, 2, 4, 8, 16]);
        assert_eq!(
            parse(&["--serve-idle", "raw_ws", "/tmp/port", "--workers", "3"]).unwrap(),
            Command::ServeIdle {
                system: System::RawWs,
                port_file: "/tmp/port".into(),
                workers: 3
            }
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--workers"]).is_err());
        assert!(parse(&["--serve-idle", "grpc", "/tmp/x"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--only", "streams,speed"]).is_err());
        assert!(parse(&["--only"]).is_err());
        assert!(parse(&["--systems", "grpc"]).is_err());
        assert!(parse(&["--scale-workers", "1,0"]).is_err());
        assert!(parse(&["--scale-workers", "1,x"]).is_err());
        assert!(parse(&["--scale-workers"]).is_err());
        assert!(parse(&["--plot"]).is_err());
        assert!(parse(&["--only", "nats", "--plot", "x.svg"]).is_err());
    }
}
