//! Two services, each with its own state and handler, in one module: the generated items of one must
//! not clash with the other's.

use hardlight::__private::{ConnectionState, ServiceSchema};
use hardlight::{HandlerResult, Topic, codable, connection_state, rpc, rpc_handler};

#[connection_state]
pub struct State {
    counter: u32,
    topic: Topic,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum CounterEvent {
    Changed(u32),
}

#[rpc(state = State, events = CounterEvent)]
pub trait Counter {
    /// Creates a new counter.
    async fn new_counter(&self) -> HandlerResult<()>;
    async fn increment(&self, amount: u32) -> HandlerResult<()>;
    async fn get(&self) -> HandlerResult<u32>;
}

#[rpc_handler]
impl Counter for CounterHandler {
    async fn new_counter(&self) -> HandlerResult<()> {
        let topic = Topic::from("counter");
        self.subscriptions.add(&topic);
        self.state.write().await.topic = topic;
        Ok(())
    }

    async fn increment(&self, amount: u32) -> HandlerResult<()> {
        let (topic, counter) = {
            let mut state = self.state.write().await;
            state.counter += amount;
            (state.topic.clone(), state.counter)
        };
        let _ = self
            .events
            .emit(&topic, CounterEvent::Changed(counter))
            .await;
        Ok(())
    }

    async fn get(&self) -> HandlerResult<u32> {
        Ok(self.state.read().await.counter)
    }
}

#[connection_state]
#[derive(Clone)]
pub struct ChatState {
    name: String,
    rooms: Vec<String>,
}

#[codable]
#[derive(Debug, Clone)]
pub struct Message {
    pub from: String,
    pub text: String,
}

#[codable]
#[derive(Debug, Clone)]
pub enum ChatError {
    NotJoined,
}

/// Rooms and messages.
#[rpc(state = ChatState)]
pub(crate) trait Chat {
    async fn join(&self, room: String) -> HandlerResult<()>;
    async fn send(&self, room: String, text: String) -> Result<u64, ChatError>;
    /// Gets (the name is not a problem: the call is fully qualified).
    async fn clone(&self) -> HandlerResult<Vec<Message>>;
}

#[rpc_handler(vis = pub(crate))]
impl Chat for ChatHandler {
    async fn join(&self, room: String) -> HandlerResult<()> {
        self.state.write().await.rooms.push(room);
        Ok(())
    }

    async fn send(&self, room: String, _text: String) -> Result<u64, ChatError> {
        if self.state.read().await.rooms.contains(&room) {
            Ok(0)
        } else {
            Err(ChatError::NotJoined)
        }
    }

    async fn clone(&self) -> HandlerResult<Vec<Message>> {
        Ok(Vec::new())
    }
}

/// Never run: the clients' methods must have these types.
#[allow(dead_code)]
async fn clients(counter: CounterClient, chat: ChatClient) {
    let _: Result<(), hardlight::CallError> = counter.increment(1).await;
    let _: Result<u32, hardlight::CallError> = counter.clone().get().await;
    let _: Result<u64, hardlight::CallError<ChatError>> =
        chat.send("lobby".to_owned(), "hi".to_owned()).await;
    let _: Result<Vec<Message>, hardlight::CallError> = ChatClient::clone(&chat).await;
    let _connected: bool = counter.is_connected();
}

fn main() {
    assert_eq!(<dyn Counter as ServiceSchema>::NAME, "Counter");
    assert_eq!(
        <dyn Counter as ServiceSchema>::METHODS,
        ["new_counter", "increment", "get"]
    );
    assert_eq!(
        hardlight::schema::<dyn Counter>(),
        "service Counter\n\
         events CounterEvent\n\
         fn new_counter() -> Result<(),HandlerError>\n\
         fn increment(u32) -> Result<(),HandlerError>\n\
         fn get() -> Result<u32,HandlerError>\n\
         state State\n\
         field counter: u32\n\
         field topic: Topic\n\
         type CounterEvent = enum { Changed(u32) }\n\
         type HandlerError = struct { message: String }\n"
    );
    assert_eq!(State::FIELDS, ["counter", "topic"]);
    assert_eq!(
        hardlight::fingerprint::<dyn Counter>(),
        hardlight::__private::wire::handshake::fnv1a64(
            hardlight::schema::<dyn Counter>().as_bytes()
        )
    );

    let chat = hardlight::schema::<dyn Chat>();
    assert!(
        chat.starts_with(
            "service Chat\n\
             events EventPayload\n\
             fn join(String) -> Result<(),HandlerError>\n\
             fn send(String,String) -> Result<u64,ChatError>\n\
             fn clone() -> Result<Vec<Message>,HandlerError>\n\
             state ChatState\n"
        ),
        "{chat}"
    );
    assert_ne!(
        hardlight::fingerprint::<dyn Counter>(),
        hardlight::fingerprint::<dyn Chat>()
    );

    // Each field round-trips through its index.
    let state = State {
        counter: 7,
        topic: Topic::from("t"),
    };
    let mut copy = State::default();
    for index in 0..u16::try_from(State::FIELDS.len()).unwrap() {
        let bytes = state.encode_field(index, Vec::new()).unwrap();
        copy.apply_field(index, &bytes, 128).unwrap();
    }
    assert_eq!(format!("{copy:?}"), format!("{state:?}"));
    assert!(copy.apply_field(2, &[], 128).is_err());
    assert!(state.encode_field(2, Vec::new()).unwrap().is_empty());

    let _ = hardlight::factory!(CounterHandler);
    let _ = hardlight::factory!(ChatHandler);
}
