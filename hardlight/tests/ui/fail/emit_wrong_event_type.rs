//! A service's emitters publish its event type only: its clients decode nothing else. Emitting
//! another type, from a handler's `events` or from the emitter of a server hosting the service,
//! does not compile, and the error names both types.

use hardlight::prelude::*;

#[codable]
#[derive(Debug, Clone)]
pub enum Score {
    Goal { team: u8 },
}

#[codable]
#[derive(Debug, Clone)]
pub struct Chat {
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
        self.events.emit(&topic, Chat { text: "goal!".into() }).await?;
        Ok(())
    }
}

async fn publish() {
    let server = Server::new(ServerConfig::plaintext("127.0.0.1:0"), factory!(MatchHandler));
    let emitter = server.get_event_emitter();
    let _ = emitter.emit(&Topic::from("match-1"), 7u32).await;
}

fn main() {
    let _ = publish();
}
