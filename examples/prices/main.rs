//! The prices example: a live price feed per subscriber, as a server-streaming method.
//!
//! ```text
//! cargo run --example prices                           # server and client in one process
//! cargo run --example prices -- server 127.0.0.1:8080  # only the server, until Ctrl-C
//! cargo run --example prices -- client 127.0.0.1:8080 --pin <fingerprint>  # exit 0 on success
//! ```
//!
//! Each call of `quotes` opens one stream: the server spawns a task that produces that
//! subscriber's quotes into a small channel, and the client reads them as they arrive. The client
//! grants credit as it reads, so a subscriber that reads slowly slows only its own feed; dropping
//! the stream cancels the call, and the producing task ends when its next send fails.
//!
//! The client takes 10 quotes of ACME, sees a refusal for an unknown symbol (the handler's own
//! error type), then opens an endless feed, reads a few quotes and drops it: the server reports
//! (in `feeds_running`) that the producer stopped. It exits non-zero on any failure.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hardlight::prelude::*;
use tokio::sync::mpsc;

/// One price of one symbol.
#[codable]
#[derive(Debug, Clone, PartialEq)]
struct Quote {
    /// 1, 2, 3... within one feed.
    seq: u32,
    /// The price, in cents.
    cents: u64,
}

/// Why a feed cannot start, or stops.
#[codable]
#[derive(Debug, Clone, PartialEq)]
enum FeedError {
    /// The exchange does not list this symbol.
    UnknownSymbol(String),
}

#[rpc]
trait Prices {
    /// Quotes of `symbol`, one every `every_ms` milliseconds: `count` of them, or without end for 0.
    async fn quotes(
        &self,
        symbol: String,
        count: u32,
        every_ms: u32,
    ) -> Result<Streaming<Quote, FeedError>, FeedError>;
    /// How many feeds are producing right now, on the whole server.
    async fn feeds_running(&self) -> HandlerResult<u32>;
}

/// What every connection's handler shares: the count of running feeds.
#[derive(Default)]
struct Exchange {
    running: AtomicU32,
}

/// Counts a feed as running while its producing task lives.
struct Running(Arc<Exchange>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

const LISTED: &[(&str, u64)] = &[("ACME", 10_000), ("GLOBEX", 4_250), ("INITECH", 731)];

#[rpc_handler(context = Exchange)]
impl Prices for Handler {
    async fn quotes(
        &self,
        symbol: String,
        count: u32,
        every_ms: u32,
    ) -> Result<Streaming<Quote, FeedError>, FeedError> {
        let Some(&(_, start)) = LISTED.iter().find(|(listed, _)| *listed == symbol) else {
            // Refused before anything is streamed: the client's call fails with this.
            return Err(FeedError::UnknownSymbol(symbol));
        };
        // A small channel: the producer runs at most 16 quotes ahead of what the client takes.
        let (sender, receiver) = mpsc::channel(16);
        self.context.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(self.context.clone());
        tokio::spawn(async move {
            let _running = running;
            let mut cents = start;
            let mut seq = 0;
            while count == 0 || seq < count {
                seq += 1;
                // A deterministic walk: up 3, down 2, up 3...
                cents = if seq % 2 == 1 { cents + 3 } else { cents - 2 };
                // Fails once the client dropped the stream (or left): the feed ends.
                if sender.send(Quote { seq, cents }).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(u64::from(every_ms))).await;
            }
        });
        Ok(Streaming::from_receiver(receiver))
    }

    async fn feeds_running(&self) -> HandlerResult<u32> {
        Ok(self.context.running.load(Ordering::SeqCst))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => demo().await,
        ["server", address] => serve(address).await,
        ["client", address, "--pin", fingerprint] => match fingerprint.parse::<CertFingerprint>() {
            Ok(fingerprint) => run_client(&PricesClient::new(pinned(address, fingerprint))).await,
            Err(e) => Err(format!("--pin: {e}")),
        },
        _ => Err("usage: prices [server ADDR | client ADDR --pin FINGERPRINT]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pinned(address: &str, fingerprint: CertFingerprint) -> ClientConfig {
    ClientConfig::pinned(address, fingerprint)
}

fn make_server(address: &str) -> Server {
    Server::new(
        ServerConfig::new_self_signed(address),
        factory!(Handler, Arc::new(Exchange::default())),
    )
}

/// Server and client in one process.
async fn demo() -> Result<(), String> {
    let server = make_server("localhost:0");
    let fingerprint = server
        .config()
        .tls()
        .map(ServerTls::fingerprint)
        .ok_or("the dev server has TLS")?;
    let bound = server.bind().await.map_err(|e| e.to_string())?;
    let port = bound.local_addr().map_err(|e| e.to_string())?.port();
    let server = tokio::spawn(bound.run());
    let client = PricesClient::new(pinned(&format!("localhost:{port}"), fingerprint));
    let result = run_client(&client).await;
    server.abort();
    result
}

/// Only the server, until Ctrl-C.
async fn serve(address: &str) -> Result<(), String> {
    let server = make_server(address);
    if let Some(tls) = server.config().tls() {
        println!("certificate fingerprint: {}", tls.fingerprint());
    }
    let bound = server.bind().await.map_err(|e| e.to_string())?;
    println!(
        "serving prices on {}",
        bound.local_addr().map_err(|e| e.to_string())?
    );
    tokio::select! {
        result = bound.run() => result.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn run_client(client: &PricesClient) -> Result<(), String> {
    client.connect().await.map_err(|e| e.to_string())?;

    // A finite feed: ten quotes, then the end.
    let mut quotes = client
        .quotes("ACME".into(), 10, 5)
        .await
        .map_err(|e| e.to_string())?;
    let mut taken = 0;
    while let Some(quote) = quotes.next().await {
        let quote = quote.map_err(|e| e.to_string())?;
        println!(
            "ACME #{:>2}: {}.{:02}",
            quote.seq,
            quote.cents / 100,
            quote.cents % 100
        );
        taken += 1;
    }
    if taken != 10 {
        return Err(format!("expected 10 quotes of ACME, got {taken}"));
    }

    // An unknown symbol: the handler refuses, and the call fails with its error.
    match client.quotes("NOPE".into(), 10, 5).await {
        Err(CallError::Handler(FeedError::UnknownSymbol(symbol))) => {
            println!("NOPE: refused, unknown symbol {symbol:?}");
        }
        Err(e) => return Err(format!("expected a refusal, got {e}")),
        Ok(_) => return Err("a feed of an unlisted symbol was opened".into()),
    }

    // An endless feed: read a few quotes, then drop it. The server stops producing.
    let mut endless = client
        .quotes("GLOBEX".into(), 0, 1)
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..5 {
        match endless.next().await {
            Some(Ok(quote)) => println!("GLOBEX #{}: {} cents", quote.seq, quote.cents),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the endless feed ended".into()),
        }
    }
    drop(endless);
    // The cancel reaches the server, which drops the feed; its producer ends at its next send.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let running = client.feeds_running().await.map_err(|e| e.to_string())?;
        if running == 0 {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "{running} feeds still running after the client left"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("GLOBEX: dropped after 5 quotes; the server's feed stopped");
    client.disconnect().await;
    Ok(())
}
