//! One-way methods: without a return type or with `-> ()`, beside calls, with arguments or none;
//! the handler implements them without a return type, and the client's methods return
//! `Result<(), Error>`.

use hardlight::__private::ServiceSchema;
use hardlight::{Error, HandlerResult, rpc, rpc_handler};

#[rpc]
pub trait Logger {
    /// Appends a line.
    #[oneway]
    async fn log(&self, line: String, level: u8);
    #[hardlight::oneway]
    async fn flush(&self) -> ();
    async fn count(&self) -> HandlerResult<u64>;
}

#[rpc_handler]
impl Logger for Handler {
    async fn log(&self, line: String, level: u8) {
        let _ = (line, level);
    }

    async fn flush(&self) {}

    async fn count(&self) -> HandlerResult<u64> {
        Ok(0)
    }
}

/// The client's one-way methods resolve to `Result<(), Error>`.
#[allow(dead_code)]
async fn use_client(client: &LoggerClient) -> Result<(), Error> {
    client.log("hello".to_owned(), 1).await?;
    client.flush().await?;
    let _ = client.count().await;
    Ok(())
}

fn main() {
    assert_eq!(<dyn Logger as ServiceSchema>::ONEWAY, [true, true, false]);
    assert_eq!(
        hardlight::schema::<dyn Logger>(),
        "service Logger\nevents EventPayload\noneway fn log(String,u8)\noneway fn flush()\n\
         fn count() -> Result<u64,HandlerError>\ntype HandlerError = struct { message: String }\n"
    );
}
