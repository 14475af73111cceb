//! `#[oneway]` takes no arguments, is given once, and marks an `async fn` like any rpc method; a
//! method without a return type that is not marked is told about it.

use hardlight::rpc;

#[rpc]
pub trait Logger {
    #[oneway(reply = false)]
    async fn with_arguments(&self, line: String);
    #[oneway]
    #[hardlight::oneway]
    async fn twice(&self);
    #[oneway]
    fn not_async(&self, line: String);
    async fn unmarked(&self, line: String);
}

fn main() {}
