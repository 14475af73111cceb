//! Evolving a service without breaking the clients already deployed: the server hosts version 1
//! and version 2 of the `Shop` service side by side (the old trait kept in a `v1` module), both
//! backed by one store and publishing to the same topic. An old client keeps working, a new one
//! gets the new method, and a client can ask the server which versions it offers.
//!
//! ```text
//! cargo run --example versions        # server and three clients in one process; exit 0 on success
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use hardlight::client::offered_services;
use hardlight::prelude::*;

/// What both versions publish to the `shop` topic: a type shared by both, so that a client of
/// either version decodes the events of the other.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum ShopEvent {
    /// `count` of `item` are now in stock.
    Stock { item: String, count: u32 },
}

/// The per-connection state, shared by both versions.
#[connection_state]
pub struct Cart {
    pub lines: u32,
}

/// What every connection of either version works on: the application's data.
#[derive(Default)]
pub struct Store {
    stock: Mutex<BTreeMap<String, u32>>,
}

impl Store {
    fn add(&self, item: &str, count: u32) -> u32 {
        let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        let total = stock.entry(item.to_owned()).or_default();
        *total = total.saturating_add(count);
        *total
    }

    fn total(&self) -> u32 {
        let stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        stock.values().sum()
    }
}

fn shop_topic() -> Topic {
    Topic::from("shop")
}

/// Version 1, exactly as it was released: clients built from it are still out there.
pub mod v1 {
    use super::*;

    #[rpc(state = Cart, events = ShopEvent)]
    pub trait Shop {
        /// Adds one of `item`; returns how many are in stock.
        async fn add(&self, item: String) -> HandlerResult<u32>;
        /// Items in stock.
        async fn total(&self) -> HandlerResult<u32>;
    }

    #[rpc_handler(context = Store, vis = pub)]
    impl Shop for ShopHandler {
        async fn add(&self, item: String) -> HandlerResult<u32> {
            // Version 1 is version 2 with a count of one.
            let count = self.context.add(&item, 1);
            self.state.write().await.lines += 1;
            self.subscriptions.add(&shop_topic());
            self.events
                .emit(&shop_topic(), ShopEvent::Stock { item, count })
                .await?;
            Ok(count)
        }

        async fn total(&self) -> HandlerResult<u32> {
            Ok(self.context.total())
        }
    }
}

/// Version 2: `add` takes a line with a count (a new type: rkyv has no optional fields, so adding
/// one is a new version), and `restock` is new.
pub mod v2 {
    use super::*;

    #[codable]
    #[derive(Debug, Clone)]
    pub struct Line {
        pub item: String,
        pub count: u32,
    }

    #[rpc(state = Cart, events = ShopEvent)]
    pub trait Shop {
        /// Adds a line; returns how many of its item are in stock.
        async fn add(&self, line: Line) -> HandlerResult<u32>;
        /// Items in stock.
        async fn total(&self) -> HandlerResult<u32>;
        /// Adds `count` of every item in `items`; returns the new total.
        async fn restock(&self, items: Vec<String>, count: u32) -> HandlerResult<u32>;
    }

    #[rpc_handler(context = Store, vis = pub)]
    impl Shop for ShopHandler {
        async fn add(&self, line: Line) -> HandlerResult<u32> {
            let count = self.context.add(&line.item, line.count);
            self.state.write().await.lines += 1;
            self.subscriptions.add(&shop_topic());
            let event = ShopEvent::Stock {
                item: line.item,
                count,
            };
            self.events.emit(&shop_topic(), event).await?;
            Ok(count)
        }

        async fn total(&self) -> HandlerResult<u32> {
            Ok(self.context.total())
        }

        async fn restock(&self, items: Vec<String>, count: u32) -> HandlerResult<u32> {
            for item in items {
                let now = self.context.add(&item, count);
                let event = ShopEvent::Stock { item, count: now };
                self.events.emit(&shop_topic(), event).await?;
            }
            Ok(self.context.total())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<(), String> {
    // One store behind both versions.
    let store = Arc::new(Store::default());
    let config = ServerConfig::new_self_signed("localhost:0");
    let fingerprint = config.tls().map(ServerTls::fingerprint).ok_or("TLS")?;
    let server = Server::new(config, factory!(v1::ShopHandler, store.clone()))
        .service(factory!(v2::ShopHandler, store));
    let bound = server.bind().await.map_err(|e| e.to_string())?;
    let address = format!(
        "localhost:{}",
        bound.local_addr().map_err(|e| e.to_string())?.port()
    );
    let server = tokio::spawn(bound.run());
    let config = || ClientConfig::pinned(address.clone(), fingerprint);

    // A client can ask which versions the server offers before picking one.
    let offered = offered_services(config())
        .await
        .map_err(|e| format!("offered services: {e}"))?;
    for service in &offered {
        println!(
            "server offers {} {:016x}",
            service.name, service.fingerprint
        );
    }
    let has_v2 = offered.iter().any(|s| s.is::<dyn v2::Shop>());
    let has_v1 = offered.iter().any(|s| s.is::<dyn v1::Shop>());
    if !(has_v1 && has_v2) {
        return Err("the server should offer both versions".into());
    }

    // An old client, built before version 2, keeps working.
    let old = v1::ShopClient::new(config());
    old.connect()
        .await
        .map_err(|e| format!("v1 connect: {e}"))?;
    let mut old_events = old.subscribe().await.map_err(|e| e.to_string())?;
    let apples = old.add("apple".into()).await.map_err(|e| e.to_string())?;
    println!("v1 client: apples in stock: {apples}");

    // A new client uses the new methods, on the same store.
    let new = v2::ShopClient::new(config());
    new.connect()
        .await
        .map_err(|e| format!("v2 connect: {e}"))?;
    let line = v2::Line {
        item: "pear".into(),
        count: 3,
    };
    let pears = new.add(line).await.map_err(|e| e.to_string())?;
    let total = new
        .restock(vec!["apple".into()], 10)
        .await
        .map_err(|e| e.to_string())?;
    println!("v2 client: pears in stock: {pears}, total after restocking: {total}");
    if new.state().await.map_err(|e| e.to_string())?.lines != 1 {
        return Err("the v2 connection's state should count its line".into());
    }

    // The old client sees the events the new version publishes to the shared topic.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), old_events.recv())
            .await
            .map_err(|_| "no event within 10 s")?
            .map_err(|e| e.to_string())?;
        seen.push(event.payload);
    }
    println!("v1 client: events: {seen:?}");
    let restocked = ShopEvent::Stock {
        item: "apple".into(),
        count: 11,
    };
    if seen.last() != Some(&restocked) || old.total().await.map_err(|e| e.to_string())? != 14 {
        return Err(format!("unexpected events or total: {seen:?}"));
    }

    server.abort();
    println!("ok");
    Ok(())
}
