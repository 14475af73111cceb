//! The service the page calls, the same source in the browser and on the server: a board with one
//! shared total that every visitor can bump and everyone hears about.

use hardlight::*;

/// The topic every visitor who joined is subscribed to.
pub fn board_topic() -> Topic {
    Topic::new("board")
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
}

/// The board's methods.
#[rpc(state = Visitor, events = BoardEvent)]
pub trait Board {
    /// Names this visitor (1 to 32 characters) and subscribes it to the board; returns the total.
    async fn join(&self, name: String) -> HandlerResult<i64>;
    /// Adds `amount` to the shared total, which everyone on the board hears; returns the new total.
    async fn bump(&self, amount: i64) -> HandlerResult<i64>;
    /// Pins a note to the board, one-way: no reply, no event; the server only counts the bytes.
    /// The page does not use it: the browser test sends many large ones, to check that a client
    /// whose server reads slowly waits instead of buffering without end.
    #[oneway]
    async fn pin(&self, note: String);
}
