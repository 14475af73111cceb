//! What a service is, as both ends see it: its description and fingerprint ([`ServiceSchema`]) and
//! what its methods return ([`MethodReturn`]).

use crate::events::EventDecode;
use crate::state::ConnectionState;
use crate::wire::Codable;

/// Describes one `#[rpc]` trait. Implemented by `#[rpc]` for `dyn Trait`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[rpc] trait",
    note = "add `#[hardlight::rpc]` to the trait's definition"
)]
pub trait ServiceSchema {
    /// The connection state clients of this service mirror (`()` for none).
    type State: ConnectionState;
    /// The event type clients of this service decode (`EventPayload` when the trait names none).
    type Event: EventDecode;
    /// The trait's name.
    const NAME: &'static str;
    /// Method names, in declaration order; a method's index on the wire is its position here.
    const METHODS: &'static [&'static str];
    /// For each method, in the same order: true if it is one-way (`#[oneway]`: sent in a `NOTIFY`
    /// frame, never answered), false if it is a call.
    const ONEWAY: &'static [bool];
    /// Canonical text of the service: trait name, event type, methods with argument and return types.
    const SCHEMA: &'static str;
    /// FNV-1a-64 of [`Self::SCHEMA`] continued over the state's [`ConnectionState::SCHEMA`]; client and
    /// server must agree on it at the handshake.
    const FINGERPRINT: u64;
}

/// What the server's emitters publish for clients of service `S`: its event type, or
/// [`AnyEvent`](crate::events::AnyEvent) (any codable type) when it declares none.
pub type EmittedBy<S> = <<S as ServiceSchema>::Event as EventDecode>::Emitted;

/// The return type of an rpc method: `Result<T, E>` with both sides codable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by an rpc method",
    note = "rpc methods return `HandlerResult<T>` or `Result<T, E>` where `T` and `E` are #[codable] types"
)]
pub trait MethodReturn: Send + 'static {
    /// The success value.
    type Ok: Codable;
    /// The handler's error value.
    type Err: Codable;
    /// As a plain `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T: Codable, E: Codable> MethodReturn for Result<T, E> {
    type Ok = T;
    type Err = E;

    fn into_result(self) -> Result<T, E> {
        self
    }
}
