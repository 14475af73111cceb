//! Unusual but valid services: supertraits, a raw identifier, the most arguments a method can take,
//! methods named like `Arc`'s and the client's, generic codable types, and an events type by path.

use hardlight::__private::ServiceSchema;
use hardlight::{HandlerResult, codable, rpc, rpc_handler};

mod model {
    use hardlight::codable;

    #[codable]
    #[derive(Debug, Clone)]
    pub struct Tick(pub u64);
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Pair<T> {
    pub left: T,
    pub right: T,
}

#[rpc(events = model::Tick)]
pub trait Edges: Send + Sync {
    async fn r#move(&self, r#to: u32) -> HandlerResult<u32>;
    #[allow(clippy::too_many_arguments)]
    async fn widest(
        &self,
        a: u8,
        b: u8,
        c: u8,
        d: u8,
        e: u8,
        f: u8,
        g: u8,
        h: u8,
        i: u8,
        j: u8,
        k: u8,
        l: u8,
        m: u8,
    ) -> HandlerResult<u32>;
    async fn clone(&self) -> HandlerResult<()>;
    async fn call(&self, pair: Pair<String>) -> HandlerResult<Pair<String>>;
    async fn inner(&self, handler: u8, args: u8) -> Result<(), String>;
}

#[rpc_handler]
impl Edges for Handler {
    async fn r#move(&self, to: u32) -> HandlerResult<u32> {
        Ok(to)
    }

    async fn widest(
        &self,
        a: u8,
        b: u8,
        c: u8,
        d: u8,
        e: u8,
        f: u8,
        g: u8,
        h: u8,
        i: u8,
        j: u8,
        k: u8,
        l: u8,
        m: u8,
    ) -> HandlerResult<u32> {
        Ok([a, b, c, d, e, f, g, h, i, j, k, l, m]
            .iter()
            .map(|&x| u32::from(x))
            .sum())
    }

    async fn clone(&self) -> HandlerResult<()> {
        Ok(())
    }

    async fn call(&self, pair: Pair<String>) -> HandlerResult<Pair<String>> {
        Ok(Pair {
            left: pair.right,
            right: pair.left,
        })
    }

    async fn inner(&self, _handler: u8, _args: u8) -> Result<(), String> {
        Ok(())
    }
}

#[allow(dead_code)]
async fn client(client: EdgesClient) {
    let _: Result<u32, hardlight::CallError> = client.r#move(1).await;
    let _: Result<u32, hardlight::CallError> = client
        .widest(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
        .await;
    let _: Result<(), hardlight::CallError> = EdgesClient::clone(&client).await;
    let pair = Pair {
        left: String::new(),
        right: String::new(),
    };
    let _: Result<Pair<String>, hardlight::CallError> = EdgesClient::call(&client, pair).await;
    let _: Result<(), hardlight::CallError<String>> = client.inner(1, 2).await;
}

fn main() {
    assert_eq!(
        <dyn Edges as ServiceSchema>::METHODS,
        ["move", "widest", "clone", "call", "inner"]
    );
    assert_eq!(
        hardlight::schema::<dyn Edges>(),
        "service Edges\n\
         events Tick\n\
         fn move(u32) -> Result<u32,HandlerError>\n\
         fn widest(u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8) -> Result<u32,HandlerError>\n\
         fn clone() -> Result<(),HandlerError>\n\
         fn call(Pair<String>) -> Result<Pair<String>,HandlerError>\n\
         fn inner(u8,u8) -> Result<(),String>\n\
         type Tick = struct(u64)\n\
         type HandlerError = struct { message: String }\n\
         type Pair<String> = struct { left: String, right: String }\n"
    );
    let _ = hardlight::factory!(Handler);
}
