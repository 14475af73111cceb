//! The service the page calls, the same source in the browser and on the server: a board with one
//! shared total that every visitor can bump and everyone hears about.

use hardlight::*;

/// The topic every visitor who joined is subscribed to.
pub fn board_topic() -> Topic {
    Topic::new("board")
}

/// How many of the board's latest events the server keeps for [`Board::recent`].
pub const RECENT_EVENTS: usize = 32;

/// The longest countdown [`Board::countdown`] gives.
pub const MAX_COUNTDOWN: u32 = 1000;

/// One step of a countdown: what is left, drawn as a bar of that many `#`.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The count, from `from` down to 1.
    pub left: u32,
    /// `left` times `#`: a countdown from 1000 weighs about 500 KB in all.
    pub bar: String,
}

/// What visitors on the board hear.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum BoardEvent {
    /// Someone bumped the total.
    Bumped {
        /// Who did.
        by: String,
        /// By how much.
        amount: i64,
        /// The total after it.
        total: i64,
    },
}

/// One connection's visitor, kept on the server and mirrored in the browser.
#[connection_state]
pub struct Visitor {
    /// The name given to `join`; empty before.
    pub name: String,
    /// How many bumps this connection made.
    pub bumps: u32,
    /// How many countdown items the server produced for this connection; each is counted here
    /// before it is sent, so the client's mirror has it by the time the item arrives.
    pub counted: u32,
}

/// The board's methods.
#[rpc(state = Visitor, events = BoardEvent)]
pub trait Board {
    /// Names this visitor (1 to 32 characters) and subscribes it to the board; returns the total.
    async fn join(&self, name: String) -> HandlerResult<i64>;
    /// Adds `amount` to the shared total, which everyone on the board hears; returns the new total.
    async fn bump(&self, amount: i64) -> HandlerResult<i64>;
    /// Adds the sum of `amounts` to the shared total as one bump, which everyone on the board hears
    /// (one event, with the sum); returns the new total. The server reads the list in place, in the
    /// message it arrived in: a zero-copy view, the same on the wire as a `Vec<i64>`.
    async fn bump_many(&self, amounts: Archived<Vec<i64>>) -> HandlerResult<i64>;
    /// The board's latest events, oldest first: the newest `limit` of the last [`RECENT_EVENTS`]
    /// the server keeps. The client reads the reply in place, a view of the message it arrived in.
    async fn recent(&self, limit: u32) -> HandlerResult<Archived<Vec<BoardEvent>>>;
    /// Counts down from `from` (1 to [`MAX_COUNTDOWN`]) to 1, one [`Step`] each, counting each in
    /// the visitor's `counted` before it is sent; a `from` out of range is refused with a handler
    /// error. Dropping the stream cancels the call, and the server stops counting.
    async fn countdown(&self, from: u32) -> HandlerResult<Streaming<Step>>;
    /// Shouts back: each line the client streams in comes back upper-cased, as it arrives (a
    /// bidirectional method: both streams run at once), until the client ends its lines.
    async fn shout(&self, lines: Streaming<String>) -> HandlerResult<Streaming<String>>;
    /// A byte channel that gives back every byte the client writes, until the client shuts its
    /// writing down (a byte stream: `AsyncRead` + `AsyncWrite` on both ends).
    async fn mirror(&self) -> HandlerResult<ByteStream>;
    /// What this call carried besides its arguments, as the handler read it: the trace context
    /// (`traceparent`) and the metadata entry `page`, if any. The page passes on a context of its
    /// own with `with_trace_parent` and tags calls with `with_metadata`.
    async fn carried(&self) -> HandlerResult<(Option<String>, Option<String>)>;
    /// Pins a note to the board, one-way: no reply, no event; the server only counts the bytes.
    /// The page does not use it: the browser test sends many large ones, to check that a client
    /// whose server reads slowly waits instead of buffering without end.
    #[oneway]
    async fn pin(&self, note: String);
}
