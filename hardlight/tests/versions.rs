//! Versioned services, the README's "Evolving a service" recipe: a server hosts version 1 and
//! version 2 of one trait side by side (the old trait kept in a `v1` module), sharing the
//! application's data, the state type and a topic; old clients keep working, new clients get the
//! new methods, and a client can ask which versions a server offers.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{Served, within};
use hardlight::client::{OfferedService, offered_services};
use hardlight::*;

/// The application's data, shared by both versions' handlers.
#[derive(Default)]
pub struct Tally(AtomicU32);

#[connection_state]
pub struct Seen {
    pub calls: u32,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    To(u32),
}

mod v1 {
    use super::*;

    #[rpc(state = Seen, events = Changed)]
    pub trait Tally {
        async fn bump(&self) -> HandlerResult<u32>;
    }

    #[rpc_handler(context = super::Tally, vis = pub)]
    impl Tally for TallyHandler {
        async fn bump(&self) -> HandlerResult<u32> {
            bump(&self.context, 1, &self.subscriptions, &self.events).await
        }
    }
}

mod v2 {
    use super::*;

    #[rpc(state = Seen, events = Changed)]
    pub trait Tally {
        async fn bump(&self, by: u32) -> HandlerResult<u32>;
        async fn read(&self) -> HandlerResult<u32>;
    }

    #[rpc_handler(context = super::Tally, vis = pub)]
    impl Tally for TallyHandler {
        async fn bump(&self, by: u32) -> HandlerResult<u32> {
            self.state.write().await.calls += 1;
            bump(&self.context, by, &self.subscriptions, &self.events).await
        }

        async fn read(&self) -> HandlerResult<u32> {
            Ok(self.context.0.load(Ordering::SeqCst))
        }
    }
}

/// What both versions' `bump` do: one implementation behind two traits.
async fn bump(
    tally: &Tally,
    by: u32,
    subscriptions: &Subscriptions,
    events: &EventEmitter<Changed>,
) -> HandlerResult<u32> {
    let now = tally.0.fetch_add(by, Ordering::SeqCst) + by;
    let topic = Topic::from("tally");
    subscriptions.add(&topic);
    events.emit(&topic, Changed::To(now)).await?;
    Ok(now)
}

async fn both_versions(config: ServerConfig) -> Served {
    let tally = Arc::new(Tally::default());
    let server = Server::new(config, factory!(v1::TallyHandler, tally.clone()))
        .service(factory!(v2::TallyHandler, tally));
    Served::bind(server, ()).await
}

#[tokio::test]
async fn old_and_new_clients_are_served_side_by_side() {
    let server = both_versions(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let old = v1::TallyClient::new(server.client_config());
    let new = v2::TallyClient::new(server.client_config());
    within("v1 connect", old.connect()).await.unwrap();
    within("v2 connect", new.connect()).await.unwrap();
    let mut old_events = old.subscribe().await.unwrap();

    assert_eq!(old.bump().await.unwrap(), 1);
    assert_eq!(new.bump(10).await.unwrap(), 11);
    assert_eq!(new.read().await.unwrap(), 11);
    assert_eq!(new.state().await.unwrap().calls, 1);
    // The old client sees what the new version publishes to the shared topic.
    assert_eq!(
        within("v1 event", old_events.recv()).await.unwrap().payload,
        Changed::To(1)
    );
    assert_eq!(
        within("v2 event", old_events.recv()).await.unwrap().payload,
        Changed::To(11)
    );
}

#[tokio::test]
async fn a_client_can_ask_which_versions_a_server_offers() {
    let server = both_versions(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let offered = within("offered services", offered_services(server.client_config()))
        .await
        .unwrap();
    let names: Vec<&str> = offered.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Tally", "Tally"]);
    assert!(offered[0].is::<dyn v1::Tally>());
    assert!(offered[1].is::<dyn v2::Tally>());
    assert_eq!(offered[1].schema, hardlight::schema::<dyn v2::Tally>());
    assert_eq!(
        offered[1].fingerprint,
        hardlight::fingerprint::<dyn v2::Tally>()
    );
    // Asking is not a connection: the server holds none afterwards.
    server.settles_at(0).await;
}

#[tokio::test]
async fn an_old_client_of_a_server_that_dropped_its_version_learns_what_changed() {
    let tally = Arc::new(Tally::default());
    let server = Served::bind(
        Server::new(
            ServerConfig::new_self_signed("127.0.0.1:0"),
            factory!(v2::TallyHandler, tally),
        ),
        (),
    )
    .await;
    let old = v1::TallyClient::new(server.client_config());
    match within("refused connect", old.connect()).await {
        Err(ConnectError::HandshakeRefused { code, reason }) => {
            assert_eq!(code, hardlight::wire::close::SCHEMA_MISMATCH);
            assert!(
                reason.starts_with(
                    "schema mismatch: method 0 is \"fn bump(u32) -> Result<u32,HandlerError>\" \
                     on the server, \"fn bump() -> Result<u32,HandlerError>\" on the client"
                ),
                "{reason}"
            );
        }
        other => panic!("expected a schema refusal, got {other:?}"),
    }
    let hosted: Vec<OfferedService> = old.server_schemas();
    assert_eq!(hosted.len(), 1);
    assert!(hosted[0].is::<dyn v2::Tally>());
}

#[tokio::test]
async fn a_server_that_does_not_explain_offers_nothing() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").explain_schema_mismatch(false);
    let server = both_versions(config).await;
    let offered = within("offered services", offered_services(server.client_config()))
        .await
        .unwrap();
    assert!(offered.is_empty());
}
