//! The files example: downloads with progress and uploads, as byte streams (`ByteStream`:
//! tokio's `AsyncRead` + `AsyncWrite` on both ends of one call, and `AsyncBufRead` to read each
//! chunk where it arrived).
//!
//! ```text
//! cargo run --example files                           # server and client in one process
//! cargo run --example files -- server 127.0.0.1:8080  # only the server, until Ctrl-C
//! cargo run --example files -- client 127.0.0.1:8080 --pin <fingerprint>  # exit 0 on success
//! ```
//!
//! The server keeps a few files in memory. The client downloads `sample.bin` (8 MiB) chunk by
//! chunk, read in place, printing its progress, and checks every byte; asks for a file that does not
//! exist and gets the handler's own error; uploads a file of its own, which the server stores once
//! the client shuts its writing down; then downloads that file back and compares. It exits
//! non-zero on any failure.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use hardlight::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Why a file cannot be read or written.
#[codable]
#[derive(Debug, Clone, PartialEq)]
enum FilesError {
    /// No file has this name.
    NotFound(String),
    /// The name is empty or longer than 64 bytes.
    BadName(String),
}

#[rpc]
trait Files {
    /// The bytes of file `name`; refused with [`FilesError::NotFound`] if there is none.
    async fn download(&self, name: String) -> Result<ByteStream<FilesError>, FilesError>;
    /// The size of file `name`, in bytes (what a progress bar needs).
    async fn size(&self, name: String) -> Result<u64, FilesError>;
    /// Stores what the client writes as file `name`, once the client shuts down its writing; the
    /// stream ends (the client reads its end) when the file is stored.
    async fn upload(&self, name: String) -> Result<ByteStream<FilesError>, FilesError>;
}

/// The files, shared by every connection.
type Library = Mutex<HashMap<String, Arc<[u8]>>>;

/// `len` bytes of a pattern that a checksum would catch any shift of.
fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn file(library: &Library, name: &str) -> Result<Arc<[u8]>, FilesError> {
    let files = library
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    files
        .get(name)
        .cloned()
        .ok_or_else(|| FilesError::NotFound(name.to_owned()))
}

#[rpc_handler(context = Library)]
impl Files for Handler {
    async fn download(&self, name: String) -> Result<ByteStream<FilesError>, FilesError> {
        let bytes = file(&self.context, &name)?;
        // Any `AsyncRead` will do: a file on disk (`tokio::fs::File`), a socket, a decoder...
        Ok(ByteStream::from_reader(std::io::Cursor::new(bytes)))
    }

    async fn size(&self, name: String) -> Result<u64, FilesError> {
        Ok(file(&self.context, &name)?.len() as u64)
    }

    async fn upload(&self, name: String) -> Result<ByteStream<FilesError>, FilesError> {
        if name.is_empty() || name.len() > 64 {
            return Err(FilesError::BadName(name));
        }
        let (stream, mut pipe) = ByteStream::pipe();
        let library = self.context.clone();
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            // Ends at the client's shutdown; fails if the client goes away first (nothing stored).
            if pipe.read_to_end(&mut bytes).await.is_ok() {
                library
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(name, Arc::from(bytes));
                // The end of the stream tells the client the file is stored.
                let _ = pipe.shutdown().await;
            }
        });
        Ok(stream)
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
            Ok(fingerprint) => {
                let config = ClientConfig::pinned(*address, fingerprint);
                run_client(&FilesClient::new(config)).await
            }
            Err(e) => Err(format!("--pin: {e}")),
        },
        _ => Err("usage: files [server ADDR | client ADDR --pin FINGERPRINT]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server, with `sample.bin` (8 MiB) in its library.
fn make_server(address: &str) -> Server {
    let library = Library::default();
    library
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert("sample.bin".into(), Arc::from(sample(8 << 20)));
    Server::new(
        ServerConfig::new_self_signed(address),
        factory!(Handler, Arc::new(library)),
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
    let client = FilesClient::new(ClientConfig::pinned(
        format!("localhost:{port}"),
        fingerprint,
    ));
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
        "serving files on {}",
        bound.local_addr().map_err(|e| e.to_string())?
    );
    tokio::select! {
        result = bound.run() => result.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Downloads file `name`, printing progress at each tenth. Each chunk is read where it arrived
/// (`fill_buf`, then `consume`: `AsyncBufRead`) and copied once, into the file's bytes.
async fn download(client: &FilesClient, name: &str) -> Result<Vec<u8>, String> {
    let size = client
        .size(name.into())
        .await
        .map_err(|e| format!("size of {name}: {e}"))?;
    let mut stream = client
        .download(name.into())
        .await
        .map_err(|e| format!("download of {name}: {e}"))?;
    let mut bytes = Vec::with_capacity(size as usize);
    let mut shown = 0;
    loop {
        let n = match stream.fill_buf().await {
            Ok([]) => break,
            Ok(chunk) => {
                bytes.extend_from_slice(chunk);
                chunk.len()
            }
            // The handler's typed error, if it sent one, travels inside the io::Error.
            Err(e) => match ByteStream::<FilesError>::call_error(&e) {
                Some(error) => return Err(format!("download of {name} failed: {error}")),
                None => return Err(format!("download of {name} failed: {e}")),
            },
        };
        stream.consume(n);
        let tenths = (bytes.len() as u64 * 10).checked_div(size).unwrap_or(10);
        if tenths > shown {
            shown = tenths;
            println!("{name}: {:>3}% ({} bytes)", tenths * 10, bytes.len());
        }
    }
    if bytes.len() as u64 != size {
        return Err(format!("{name}: {} bytes arrived of {size}", bytes.len()));
    }
    Ok(bytes)
}

async fn run_client(client: &FilesClient) -> Result<(), String> {
    client.connect().await.map_err(|e| e.to_string())?;

    // A download with progress, every byte checked.
    let bytes = download(client, "sample.bin").await?;
    if bytes != sample(bytes.len()) {
        return Err("sample.bin arrived altered".into());
    }
    println!("sample.bin: {} bytes, every one as sent", bytes.len());

    // A file that does not exist: the handler refuses with its own error type.
    match client.download("missing.txt".into()).await {
        Err(CallError::Handler(FilesError::NotFound(name))) => {
            println!("missing.txt: refused, no file {name:?}");
        }
        Err(e) => return Err(format!("expected NotFound, got {e}")),
        Ok(_) => return Err("a missing file was opened".into()),
    }

    // An upload: write, shut down, and wait for the server's end, which says it is stored.
    let notes: Vec<u8> = (0..1_000_000u32)
        .map(|i| b"hardlight "[i as usize % 10])
        .collect();
    let mut upload = client
        .upload("notes.txt".into())
        .await
        .map_err(|e| format!("upload: {e}"))?;
    upload
        .write_all(&notes)
        .await
        .map_err(|e| format!("upload: writing: {e}"))?;
    upload
        .shutdown()
        .await
        .map_err(|e| format!("upload: shutting down: {e}"))?;
    let mut rest = Vec::new();
    upload
        .read_to_end(&mut rest)
        .await
        .map_err(|e| format!("upload: waiting for the server: {e}"))?;
    println!("notes.txt: {} bytes uploaded and stored", notes.len());

    // And back.
    if download(client, "notes.txt").await? != notes {
        return Err("notes.txt came back altered".into());
    }
    println!("notes.txt: downloaded back, the same bytes");
    client.disconnect().await;
    Ok(())
}
