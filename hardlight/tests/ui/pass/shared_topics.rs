//! What a service's emitters may publish: its event type through the typed emitter; anything
//! codable through `untyped()` (topics shared with services of other event types), through the
//! emitter of a service without an event type, and through that of a server hosting several
//! services; one type again through `typed()`.

use hardlight::prelude::*;

#[codable]
#[derive(Debug, Clone)]
pub enum Score {
    Goal { team: u8 },
}

#[codable]
#[derive(Debug, Clone)]
pub struct Notice {
    pub text: String,
}

#[rpc(events = Score)]
pub trait Match {
    async fn kick(&self) -> HandlerResult<()>;
}

#[rpc_handler]
impl Match for MatchHandler {
    async fn kick(&self) -> HandlerResult<()> {
        let topic = Topic::from("match-1");
        self.events.emit(&topic, Score::Goal { team: 1 }).await?;
        self.events.untyped().emit(&Topic::from("lobby"), Notice { text: "goal".into() }).await?;
        Ok(())
    }
}

#[rpc]
pub trait Lobby {
    async fn hello(&self) -> HandlerResult<()>;
}

#[rpc_handler]
impl Lobby for LobbyHandler {
    async fn hello(&self) -> HandlerResult<()> {
        // No event type: its clients receive `EventPayload`s, and its emitter publishes anything.
        self.events.emit(&Topic::from("lobby"), Notice { text: "hi".into() }).await?;
        self.events.emit(&Topic::from("lobby"), 7u32).await?;
        Ok(())
    }
}

async fn publish() -> Result<(), Box<dyn std::error::Error>> {
    let one = Server::new(ServerConfig::plaintext("127.0.0.1:0"), factory!(MatchHandler));
    let scores: EventEmitter<Score> = one.get_event_emitter();
    scores.emit(&Topic::from("match-1"), Score::Goal { team: 2 }).await?;

    let both = Server::new(ServerConfig::plaintext("127.0.0.1:0"), factory!(MatchHandler))
        .service(factory!(LobbyHandler));
    let any: EventEmitter = both.get_event_emitter();
    any.emit(&Topic::from("lobby"), Notice { text: "open".into() }).await?;
    any.typed::<Score>().emit(&Topic::from("match-1"), Score::Goal { team: 1 }).await?;
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(publish()).unwrap();
}
