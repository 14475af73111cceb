//! Reads an HTTP request head before the WebSocket handshake, so that a request that is not a
//! WebSocket upgrade gets a `400 Bad Request` saying so (tungstenite would just drop it), and the
//! server can decide on the upgrade (origin, authentication) before it happens; then hands the bytes
//! read past the head to the upgraded connection (or all of them back, to a refusal).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Largest request head read; beyond it the request is refused (`431`).
pub(crate) const MAX_HEAD: usize = 8 << 10;
/// Headers parsed at most.
const MAX_HEADERS: usize = 64;

/// What the head says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// A WebSocket upgrade request: go on with the handshake.
    Upgrade(RequestHead),
    /// A plain `GET` of this target (path and query), not an upgrade: the health check's, or a
    /// request to refuse.
    Get(String),
    /// Not one: answer with this status line and text, and close.
    Refuse(&'static str, &'static str),
}

/// What the server looks at in an upgrade request before upgrading.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestHead {
    /// The request target: path and query (`/rpc?token=x`).
    pub target: String,
    pub headers: HeaderMap,
}

/// Reads until the end of the request head (or a refusal is certain); returns the verdict and
/// the stream with every byte read put back in front.
pub(crate) async fn read_head<S>(mut stream: S) -> io::Result<(Head, Rewind<S>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(1024);
    let (head, head_len) = loop {
        if stream.read_buf(&mut buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(judged) = judge(&buffer) {
            break judged;
        }
        if buffer.len() >= MAX_HEAD {
            break (
                Head::Refuse(
                    "431 Request Header Fields Too Large",
                    "request head over 8 KiB\n",
                ),
                buffer.len(),
            );
        }
    };
    if let Head::Refuse(status, text) = head {
        answer(&mut stream, status, text).await?;
    }
    Ok((
        head,
        Rewind {
            head_left: head_len.min(buffer.len()),
            prefix: buffer.freeze(),
            inner: stream,
        },
    ))
}

/// Answers a request that is not upgraded with `status` (a status line's code and reason) and the
/// plain text `text`, then closes the stream's writing.
pub(crate) async fn answer<S>(stream: &mut S, status: &str, text: &str) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    // RFC 6455 §4.4: a refused version is answered with the one this server speaks.
    let version = if status.starts_with("426") {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\n{version}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}

/// The verdict on the bytes read so far, and the length of the head; `None` until the head is
/// complete.
fn judge(bytes: &[u8]) -> Option<(Head, usize)> {
    judge_head(bytes).map(|(head, len)| (head, len.unwrap_or(bytes.len())))
}

/// The verdict, and the head's length once it is complete.
fn judge_head(bytes: &[u8]) -> Option<(Head, Option<usize>)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let refuse = |status, text| Some((Head::Refuse(status, text), None));
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => refuse(
            "431 Request Header Fields Too Large",
            "too many request headers\n",
        ),
        Err(_) => refuse("400 Bad Request", "malformed HTTP request\n"),
        Ok(httparse::Status::Complete(len)) => Some((upgrade_head(&request), Some(len))),
    }
}

/// What a request that is not a WebSocket upgrade is told (`400 Bad Request`), here and by a
/// mounted server.
pub(crate) const NOT_AN_UPGRADE: &str = "expected a WebSocket upgrade (GET with Upgrade: websocket) \
                                         offering the subprotocol hardlight.v1\n";

/// What an upgrade request without `Sec-WebSocket-Version: 13` is told, with `426 Upgrade Required`
/// and the version this server speaks (RFC 6455 §4.4), here and by a mounted server.
pub(crate) const BAD_VERSION: &str = "only WebSocket version 13 is supported\n";

/// What an upgrade request without a `Sec-WebSocket-Key` is told (`400`, RFC 6455 §4.2.1), here and
/// by a mounted server.
pub(crate) const NO_KEY: &str = "the upgrade request has no Sec-WebSocket-Key\n";

/// Whether an HTTP/1.1 request is a WebSocket upgrade: `GET` with `Upgrade: websocket` and
/// `Connection: upgrade` (tokens compared ASCII case-insensitively, among comma-separated lists).
pub(crate) fn is_websocket_upgrade(method: &str, headers: &HeaderMap) -> bool {
    method == "GET"
        && has_token(headers, header::UPGRADE, "websocket")
        && has_token(headers, header::CONNECTION, "upgrade")
}

/// Whether a header named `name` lists `token`.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The request's target and headers if it is a WebSocket upgrade, or a 400: for a request that is
/// not one, or with a header `http` cannot hold (which tungstenite's handshake would refuse as well).
fn upgrade_head(request: &httparse::Request<'_, '_>) -> Head {
    let malformed = Head::Refuse("400 Bad Request", "malformed HTTP request\n");
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return malformed;
        };
        headers.append(name, value);
    }
    let method = request.method.unwrap_or("");
    if !is_websocket_upgrade(method, &headers) {
        return match (method, request.path) {
            ("GET", Some(target)) => Head::Get(target.to_owned()),
            _ => Head::Refuse("400 Bad Request", NOT_AN_UPGRADE),
        };
    }
    let version = headers.get(header::SEC_WEBSOCKET_VERSION);
    if version.is_none_or(|v| v.as_bytes() != b"13") {
        return Head::Refuse("426 Upgrade Required", BAD_VERSION);
    }
    if headers.get(header::SEC_WEBSOCKET_KEY).is_none_or(|k| k.is_empty()) {
        return Head::Refuse("400 Bad Request", NO_KEY);
    }
    match request.path {
        Some(target) => Head::Upgrade(RequestHead {
            target: target.to_owned(),
            headers,
        }),
        None => malformed,
    }
}

/// A stream that first yields `prefix`, then reads from `inner`; writes go to `inner`.
///
/// No read returns both the end of the request head and bytes after it: the handshake, which stops
/// reading once it has the head, then leaves every WebSocket byte in the stream, so that a watch
/// installed after it (`super::partial`) sees all of them, even frames a client sent early.
pub(crate) struct Rewind<S> {
    prefix: Bytes,
    /// Bytes of the head not yet yielded.
    head_left: usize,
    inner: S,
}

impl<S> Rewind<S> {
    /// The bytes read past the request head, not yet yielded, and the stream they came from: for
    /// the upgrade, which answers the head itself.
    pub(crate) fn into_parts(self) -> (Bytes, S) {
        let leftover = self.prefix.slice(self.head_left.min(self.prefix.len())..);
        (leftover, self.inner)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let mut n = self.prefix.len().min(buf.remaining());
            if self.head_left > 0 {
                n = n.min(self.head_left);
                self.head_left -= n;
            }
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            if self.prefix.is_empty() {
                // Frees the head's buffer for the rest of the connection's life.
                self.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_requests() {
        let upgrade = b"GET /rpc?a=1 HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: a2V5\r\n\r\n";
        match judge(upgrade) {
            Some((Head::Upgrade(head), len)) => {
                assert_eq!(len, upgrade.len());
                assert_eq!(head.target, "/rpc?a=1");
                assert_eq!(
                    head.headers.get("host").map(|v| v.as_bytes()),
                    Some(&b"x"[..])
                );
            }
            other => panic!("expected an upgrade, got {other:?}"),
        }
        assert_eq!(judge(&upgrade[..20]), None);
        let plain = b"GET /healthz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(matches!(judge(plain), Some((Head::Get(target), _)) if target == "/healthz?probe=1"));
        let post = b"POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
        assert!(matches!(judge(post), Some((Head::Refuse(s, _), _)) if s.starts_with("400")));
        assert!(
            matches!(judge(b"\x00\x01garbage\r\n\r\n"), Some((Head::Refuse(s, _), _)) if s.starts_with("400"))
        );
        let no_key = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert!(matches!(judge(no_key), Some((Head::Refuse(_, NO_KEY), _))));
        let old = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: a2V5\r\n\r\n";
        assert!(matches!(judge(old), Some((Head::Refuse(s, BAD_VERSION), _)) if s.starts_with("426")));
    }

    #[tokio::test]
    async fn replays_what_it_read() {
        let (mut client, server) = tokio::io::duplex(1024);
        let request = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: a2V5\r\n\r\nextra";
        client.write_all(request).await.unwrap();
        let (head, mut rewound) = read_head(server).await.unwrap();
        assert!(matches!(head, Head::Upgrade(_)));
        let mut replay = vec![0; request.len()];
        rewound.read_exact(&mut replay).await.unwrap();
        assert_eq!(&replay, request);
    }

    #[tokio::test]
    async fn no_read_crosses_the_end_of_the_head() {
        let (mut client, server) = tokio::io::duplex(1024);
        let head = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: a2V5\r\n\r\n";
        client.write_all(head).await.unwrap();
        client.write_all(b"frames").await.unwrap();
        let (_, mut rewound) = read_head(server).await.unwrap();
        let mut buf = vec![0; 1024];
        let n = rewound.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], head);
        let n = rewound.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"frames");
    }

    #[tokio::test]
    async fn the_bytes_past_the_head_go_to_the_upgraded_connection() {
        let (mut client, server) = tokio::io::duplex(1024);
        let head = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: a2V5\r\n\r\n";
        client.write_all(&[&head[..], b"frames"].concat()).await.unwrap();
        drop(client);
        let (_, rewound) = read_head(server).await.unwrap();
        let (leftover, mut inner) = rewound.into_parts();
        let mut rest = leftover.to_vec();
        inner.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"frames");
    }
}
