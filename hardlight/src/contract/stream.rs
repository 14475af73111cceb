//! Streaming methods: [`Streaming<T, E>`], the items of one call, on both ends.
//!
//! A method declared `-> HandlerResult<Streaming<Tick>>` (or `-> Result<Streaming<Tick, E>, E>`)
//! answers one call with any number of items, then an end. Its handler returns a `Streaming` built
//! from any [`Stream`]; the client's method returns a `Streaming` that yields the items as they
//! arrive. On both ends it is a stream of `Result<T, CallError<E>>`: the handler's own error type
//! ends a stream early, and a failure of the call (the connection lost, a deadline, a cancel) ends
//! it with [`CallError::Rpc`].
//!
//! On the wire (`docs/PROTOCOL.md` §5.11) each item is an `ITEM` frame, sent only within the credit
//! the client grants (`CREDIT` frames): a consumer that stops reading stops the producer, and the
//! other calls of the connection go on. The call's `REPLY` ends the stream.

use std::fmt;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};

use super::reply::{
    RawReply, decode_reply, decode_value, encode_item, encode_reply_vec, internal_reply,
};
use crate::error::{CallError, HandlerError, ProtocolError, RpcError};
use crate::wire::codec::{Arena, value_serializer};
use crate::wire::frame::{
    FrameError, ItemList, ItemsWriter, MAX_BATCH, ReplyStatus, encode_reply_text,
};
use crate::wire::shape::Shapes;
use crate::wire::{Codable, DecodeError, WireValue};

/// The items of one streaming call: what a streaming method's handler returns, and what the
/// client's method gives back. A [`Stream`] of `Result<T, CallError<E>>` on both ends.
///
/// ```
/// use futures_util::StreamExt;
/// use hardlight::*;
///
/// #[codable]
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Tick { pub seq: u32, pub price: u64 }
///
/// #[rpc]
/// pub trait Feed {
///     /// `count` ticks of `symbol`.
///     async fn ticks(&self, symbol: String, count: u32) -> HandlerResult<Streaming<Tick>>;
/// }
///
/// #[rpc_handler]
/// impl Feed for FeedHandler {
///     async fn ticks(&self, symbol: String, count: u32) -> HandlerResult<Streaming<Tick>> {
///         if symbol.is_empty() {
///             return Err("no symbol".into());
///         }
///         let ticks = futures_util::stream::iter(0..count).map(|seq| Tick { seq, price: 100 + u64::from(seq) });
///         Ok(Streaming::new(ticks))
///     }
/// }
///
/// # async fn run() -> Result<(), hardlight::Error> {
/// # let server = Server::new(ServerConfig::new_self_signed("127.0.0.1:0"), factory!(FeedHandler)).bind().await?;
/// # let address = server.local_addr()?.to_string();
/// # tokio::spawn(server.run());
/// let client = FeedClient::new_self_signed(&address, Compression::none());
/// client.connect().await?;
/// let mut ticks = client.ticks("ACME".into(), 3).await?;
/// while let Some(tick) = ticks.next().await {
///     println!("{:?}", tick?);
/// }
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
pub struct Streaming<T, E = HandlerError> {
    items: Items<T, E>,
}

/// The items of a [`Streaming`], boxed.
type Items<T, E> = Pin<Box<dyn Stream<Item = Result<T, CallError<E>>> + Send>>;

impl<T: Send + 'static, E: Send + 'static> Streaming<T, E> {
    /// The items of `items`, in order; the stream ends when it does.
    pub fn new(items: impl Stream<Item = T> + Send + 'static) -> Self {
        Self {
            items: Box::pin(items.map(Ok)),
        }
    }

    /// The items of `items`, until one is an error: that error ends the stream, and the client
    /// receives it as [`CallError::Handler`] after the items before it.
    pub fn from_results(items: impl Stream<Item = Result<T, E>> + Send + 'static) -> Self {
        Self {
            items: Box::pin(items.map(|item| item.map_err(CallError::Handler))),
        }
    }

    /// The items of an iterator (a `Vec`, a range...), in order.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::new(stream::iter(items))
    }

    /// The items sent on a tokio channel, until every sender is dropped: a handler can spawn the
    /// task that produces them and return at once. A sender learns that the client is gone (it
    /// cancelled, or the connection ended) when `send` fails, and the channel's capacity bounds
    /// what waits on the server.
    ///
    /// ```
    /// # use hardlight::*;
    /// # async fn ticks() -> HandlerResult<Streaming<u32>> {
    /// let (sender, receiver) = tokio::sync::mpsc::channel(16);
    /// tokio::spawn(async move {
    ///     for tick in 0.. {
    ///         if sender.send(tick).await.is_err() {
    ///             break; // nobody reads any more
    ///         }
    ///     }
    /// });
    /// Ok(Streaming::from_receiver(receiver))
    /// # }
    /// ```
    pub fn from_receiver(items: tokio::sync::mpsc::Receiver<T>) -> Self {
        Self::new(stream::unfold(items, |mut items| async move {
            items.recv().await.map(|item| (item, items))
        }))
    }

    /// A stream whose items come from `items` as they are: a `Streaming` received from another
    /// call can be returned by a handler as it is, its call failures included.
    pub fn from_stream(
        items: impl Stream<Item = Result<T, CallError<E>>> + Send + 'static,
    ) -> Self {
        Self {
            items: Box::pin(items),
        }
    }
}

impl<T, E> Streaming<T, E> {
    /// The next item, the error that ended the stream, or `None` after its end: the same as
    /// [`StreamExt::next`], without importing it.
    #[allow(clippy::should_implement_trait)]
    pub async fn next(&mut self) -> Option<Result<T, CallError<E>>> {
        self.items.next().await
    }
}

impl<T, E> Stream for Streaming<T, E> {
    type Item = Result<T, CallError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.as_mut().poll_next(cx)
    }
}

impl<T, E> fmt::Debug for Streaming<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming").finish_non_exhaustive()
    }
}

/// What a running stream produces for the connection: an `ITEM` frame, or the `REPLY` frame that
/// ends it (always the last).
#[derive(Debug)]
pub enum SourceItem {
    /// The handler accepted the call (its stream is running): the `OPENED` frame, first.
    Opened,
    /// An `ITEM` frame.
    Item(Vec<u8>),
    /// The `REPLY` frame that ends the stream.
    End(Vec<u8>),
}

/// The frames of a running stream, for the connection: items, then exactly one [`SourceItem::End`].
pub type ItemSource = Pin<Box<dyn FrameSource>>;

/// What a running stream produces, polled by the connection: its frames one at a time
/// ([`poll_frame`](Self::poll_frame)), or the items it has ready written straight into an `ITEMS`
/// frame being built ([`poll_fill`](Self::poll_fill)), which spares a typed stream an `ITEM` frame
/// of its own per item and a serializer set up per item.
pub trait FrameSource: Send {
    /// The next frame; `None` after the end.
    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SourceItem>>;

    /// Appends the items that are ready to `batch`, one after the other, while the frame is
    /// shorter than `limit` bytes and `go_on()` says so, and says why it stopped. A frame that is
    /// not an item (the end) is handed back, not appended; the items before it stay in `batch`.
    fn poll_fill(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        batch: &mut ItemsWriter,
        limit: usize,
        go_on: &dyn Fn() -> bool,
    ) -> Fill {
        loop {
            if batch.frame_len() >= limit || !go_on() {
                return Fill::Full;
            }
            match self.as_mut().poll_frame(cx) {
                Poll::Pending => return Fill::Pending,
                Poll::Ready(None) => return Fill::Ended,
                Poll::Ready(Some(SourceItem::Item(item))) => batch.push_item_frame(&item),
                Poll::Ready(Some(other)) => return Fill::Other(other),
            }
        }
    }
}

/// What a batch's buffer holds beyond its limit when it is first grown: room for the item that
/// takes it past the limit, unless that one is large.
const FILL_SLACK: usize = 1024;

/// Why [`FrameSource::poll_fill`] stopped.
pub enum Fill {
    /// The frame reached its limit, or `go_on` said to stop.
    Full,
    /// No item is ready.
    Pending,
    /// The next frame is not an item (the end): to be sent on its own, after the batch.
    Other(SourceItem),
    /// The source had ended.
    Ended,
    /// The handler's stream panicked (or an item's serializer did): the items before stay in the
    /// batch, and the panic is to be raised again once they are sent.
    Panicked(Box<dyn std::any::Any + Send>),
}

impl fmt::Debug for Fill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fill::Full => f.write_str("Full"),
            Fill::Pending => f.write_str("Pending"),
            Fill::Other(frame) => f.debug_tuple("Other").field(frame).finish(),
            Fill::Ended => f.write_str("Ended"),
            Fill::Panicked(_) => f.write_str("Panicked"),
        }
    }
}

impl<T: WireValue, E: Codable> Streaming<T, E> {
    /// The frames of this stream as the reply to call `call_id`. The handler's stream is dropped as
    /// soon as it ends or fails.
    pub(crate) fn into_source(self, call_id: u32) -> ItemSource {
        Box::pin(Source {
            items: Some(self.items),
            call_id,
            arena: None,
        })
    }
}

struct Source<T, E> {
    items: Option<Items<T, E>>,
    call_id: u32,
    /// The serializer's scratch space for items appended to a batch, kept from item to item
    /// (made at the first).
    arena: Option<Arena>,
}

impl<T, E> Source<T, E> {
    /// The stream's end, with its `REPLY`: the handler's stream is dropped now, and whatever it
    /// holds is released with it.
    fn end(&mut self, reply: Vec<u8>) -> SourceItem {
        self.items = None;
        SourceItem::End(reply)
    }
}

/// The next item of the handler's stream `items` (of call `call_id`), or the `REPLY` that ends it
/// (encoded); `None` once it has ended.
#[inline(always)]
fn poll_item<T, E: Codable>(
    items: &mut Option<Items<T, E>>,
    call_id: u32,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<T, Vec<u8>>>> {
    let Some(items) = items.as_mut() else {
        return Poll::Ready(None);
    };
    let end = match ready!(items.as_mut().poll_next(cx)) {
        Some(Ok(item)) => return Poll::Ready(Some(Ok(item))),
        Some(Err(CallError::Handler(error))) => encode_reply_vec::<(), E>(call_id, Err(error)),
        Some(Err(CallError::Rpc(error))) => encode_reply_text(
            call_id,
            ReplyStatus::Internal,
            &format!("the stream failed: {error}"),
        ),
        None => encode_reply_vec::<(), E>(call_id, Ok(())),
    };
    Poll::Ready(Some(Err(end)))
}

impl<T: WireValue, E: Codable> FrameSource for Source<T, E> {
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SourceItem>> {
        let this = &mut *self;
        let frame = match ready!(poll_item(&mut this.items, this.call_id, cx)) {
            None => return Poll::Ready(None),
            Some(Ok(item)) => match encode_item(this.call_id, &item) {
                Ok(frame) => SourceItem::Item(frame),
                Err(e) => this.end(internal_reply(this.call_id, &e)),
            },
            Some(Err(end)) => this.end(end),
        };
        Poll::Ready(Some(frame))
    }

    fn poll_fill(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        batch: &mut ItemsWriter,
        limit: usize,
        go_on: &dyn Fn() -> bool,
    ) -> Fill {
        let this = &mut *self;
        let (items, call_id) = (&mut this.items, this.call_id);
        // Each item is encoded in place at the batch's end, all with one serializer and the
        // stream's own arena: no allocation, no copy, no set-up per item.
        let arena = this.arena.get_or_insert_with(Arena::new);
        let mut serializer = value_serializer(batch.take_buffer(), arena);
        let fill = loop {
            let complete = serializer.writer.len();
            if complete >= limit || !go_on() {
                break Fill::Full;
            }
            // A panic is caught here, where the batch's buffer is at hand: the items before it
            // stay in the batch.
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let item = match poll_item(items, call_id, cx) {
                    Poll::Pending => return Err(Fill::Pending),
                    Poll::Ready(None) => return Err(Fill::Ended),
                    Poll::Ready(Some(Err(end))) => return Err(Fill::Other(SourceItem::End(end))),
                    Poll::Ready(Some(Ok(item))) => item,
                };
                let room = limit.min(MAX_BATCH);
                if serializer.writer.capacity() < room {
                    // More than one item is ready: room for the frame at once (a little over its
                    // limit, for the last item), rather than growing it by doubling, a copy each.
                    let wanted = room.saturating_add(FILL_SLACK);
                    let len = serializer.writer.len();
                    serializer.writer.reserve(wanted.saturating_sub(len));
                }
                let at = ItemsWriter::open_item(&mut serializer.writer);
                match item.encode_wire_with(&mut serializer) {
                    Ok(()) => {
                        ItemsWriter::close_item(&mut serializer.writer, at);
                        Ok(at)
                    }
                    Err(e) => {
                        serializer.writer.truncate(at);
                        Err(Fill::Other(SourceItem::End(internal_reply(call_id, &e))))
                    }
                }
            }));
            match step {
                Ok(Ok(at)) => batch.appended(at),
                Ok(Err(fill)) => break fill,
                Err(panic) => {
                    serializer.writer.truncate(complete);
                    break Fill::Panicked(panic);
                }
            }
        };
        batch.restore_buffer(serializer.into_writer());
        if matches!(fill, Fill::Other(_)) {
            // The end: the handler's stream is dropped now, and whatever it holds with it.
            this.items = None;
        }
        fill
    }
}

/// What a client's connection delivers for one streaming call, in order: `Opened` (unless the
/// handler refused the call), items, then one end.
#[derive(Debug)]
pub enum RawStreamMsg {
    /// The call's `OPENED`: its handler accepted it.
    Opened,
    /// An item's archive: `message[range]`.
    Item {
        /// The `ITEM` frame (or its inflated bytes).
        message: Bytes,
        /// Where the item's archive lies in it.
        range: Range<usize>,
    },
    /// Several items' archives, in order, as an `ITEMS` frame holds them: `message[list]` is the
    /// frame's list of items, checked whole when it was received (each a `u32` length, then the
    /// archive; [`ItemList::next_range`] takes them off one by one).
    Items {
        /// The `ITEMS` frame (or its inflated bytes).
        message: Bytes,
        /// Where the list of items lies in it.
        list: Range<usize>,
    },
    /// The call's `REPLY`.
    End(RawReply),
    /// The call failed without a reply: the connection ended, or its deadline passed.
    Failed(RpcError),
}

impl RawStreamMsg {
    /// The length of the `ITEM` or `ITEMS` frame this is (what it took of the credit); `None` for
    /// the other messages.
    pub fn item_frame_len(&self) -> Option<usize> {
        match self {
            RawStreamMsg::Item { message, .. } | RawStreamMsg::Items { message, .. } => {
                Some(message.len())
            }
            _ => None,
        }
    }
}

/// A client connection's side of one streaming call.
pub type RawStream = Pin<Box<dyn RawStreamSource>>;

/// The messages of one streaming call as its client's connection routes them, and the way back
/// to that connection for what only reading them finds out.
pub trait RawStreamSource: Stream<Item = RawStreamMsg> + Send {
    /// The server broke the protocol in a message of this call that was read only now (an
    /// `ITEMS` frame's later lengths are checked as its items are taken): the connection closes
    /// with `error` (1002), as for a violation found when the message arrived.
    fn violated(&self, error: RpcError);
}

impl<T: WireValue, E: Codable> Streaming<T, E> {
    /// The typed items of a streaming call received by a client, each validated (nested at most
    /// `max_depth` levels deep) when it is taken. An item that fails validation ends the stream
    /// with that error (and drops `raw`, which cancels the call).
    pub(crate) fn remote(raw: RawStream, max_depth: usize) -> Self {
        Self {
            items: Box::pin(Remote::<T, E> {
                raw: Some(raw),
                batch: None,
                max_depth,
                _types: std::marker::PhantomData,
            }),
        }
    }
}

/// A client's streaming call as typed items: [`Streaming::remote`].
struct Remote<T, E> {
    /// The call's messages; `None` once the stream has ended.
    raw: Option<RawStream>,
    /// The items of the `ITEMS` frame being taken: the frame, and where its items not yet taken
    /// lie.
    batch: Option<(Bytes, Range<usize>)>,
    max_depth: usize,
    _types: std::marker::PhantomData<fn() -> (T, E)>,
}

impl<T: WireValue, E: Codable> Remote<T, E> {
    /// An item as decoded; a failure ends the stream.
    fn item(&mut self, decoded: Result<T, DecodeError>) -> Result<T, CallError<E>> {
        decoded.map_err(|e| {
            self.raw = None;
            self.batch = None;
            CallError::from(ProtocolError::Reply(e))
        })
    }
}

impl<T, E> Remote<T, E> {
    /// An `ITEMS` frame's length ran past its end, found as its items were taken: the items
    /// before it were delivered; the stream ends, and the connection closes.
    #[cold]
    fn violated(&mut self, fault: FrameError) -> CallError<E> {
        let error = RpcError::from(ProtocolError::Frame(fault));
        if let Some(raw) = self.raw.take() {
            raw.violated(error.clone());
        }
        self.batch = None;
        CallError::Rpc(error)
    }
}

impl<T: WireValue, E: Codable> Stream for Remote<T, E> {
    type Item = Result<T, CallError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some((message, rest)) = &mut this.batch {
                match ItemList::next_range(message, rest) {
                    Some(Ok(range)) => {
                        // Decoded from the batch's buffer: only a view keeps (a share of) it.
                        let decoded = decode_value::<T>(message, range, this.max_depth);
                        return Poll::Ready(Some(this.item(decoded)));
                    }
                    Some(Err(e)) => return Poll::Ready(Some(Err(this.violated(e)))),
                    None => this.batch = None,
                }
            }
            let Some(raw) = this.raw.as_mut() else {
                return Poll::Ready(None);
            };
            let ended = match ready!(raw.as_mut().poll_next(cx)) {
                Some(RawStreamMsg::Item { message, range }) => {
                    let decoded = decode_value::<T>(&message, range, this.max_depth);
                    return Poll::Ready(Some(this.item(decoded)));
                }
                Some(RawStreamMsg::Items { message, list }) => {
                    this.batch = Some((message, list));
                    continue;
                }
                Some(RawStreamMsg::End(reply)) => {
                    decode_reply::<(), E>(&reply, this.max_depth).err()
                }
                Some(RawStreamMsg::Failed(error)) => Some(CallError::Rpc(error)),
                Some(RawStreamMsg::Opened) => {
                    let why = "a second OPENED frame for one call".to_owned();
                    Some(ProtocolError::Unexpected(why).into())
                }
                None => None,
            };
            // The end: the call's messages are dropped with it.
            this.raw = None;
            return Poll::Ready(ended.map(Err));
        }
    }
}

/// `Streaming<T,E>`, with `T`'s wire type.
pub(crate) fn stream_shape<T: WireValue, E: Codable>(shapes: &mut Shapes, out: &mut String) {
    out.push_str("Streaming<");
    (<T as WireValue>::SHAPE)(shapes, out);
    out.push(',');
    (E::SHAPE)(shapes, out);
    out.push('>');
}
