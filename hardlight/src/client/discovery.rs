//! Which services a server hosts: asked without being one of them, for a client that must pick a
//! version (`docs/PROTOCOL.md` §5.10).

use super::{Client, ClientConfig};
use crate::contract::{Schema, SchemaWriter, ServiceSchema};
use crate::error::ConnectError;
use crate::events::EventPayload;
use crate::wire::close;
use crate::wire::handshake::fnv1a64;

/// One service a server hosts, as it described itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedService {
    /// The trait's name (the first line of its schema text, `service <name>`).
    pub name: String,
    /// Its schema fingerprint: what a client of it offers.
    pub fingerprint: u64,
    /// Its schema text (`docs/PROTOCOL.md` §3).
    pub schema: String,
}

impl OfferedService {
    pub(crate) fn from_text(text: &str) -> Self {
        let name = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("service "))
            .unwrap_or_default()
            .to_owned();
        Self {
            name,
            fingerprint: fnv1a64(text.as_bytes()),
            schema: text.to_owned(),
        }
    }

    /// True if this is the service a client of `S` talks to: same fingerprint.
    pub fn is<S: ?Sized + ServiceSchema>(&self) -> bool {
        self.fingerprint == crate::contract::schema::fingerprint::<S>()
    }
}

/// A service no server hosts: connecting as it is refused, and the refusal lists what the server
/// hosts.
trait Probe {}

#[diagnostic::do_not_recommend]
impl ServiceSchema for dyn Probe {
    type State = ();
    type Event = EventPayload;
    const NAME: &'static str = "hardlight.probe";
    const METHODS: &'static [&'static str] = &[];
    const ONEWAY: &'static [bool] = &[];
    const UPLOADS: &'static [bool] = &[];

    fn describe_methods(_: &mut SchemaWriter) {}

    fn schema() -> &'static Schema {
        static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(Schema::of::<Self>)
    }
}

/// Asks the server at `config`'s address which services it hosts (their names, fingerprints and
/// schema texts), by connecting as a service it does not host: the server refuses the connection
/// (4001) and lists its services first. With several versions of a service hosted side by side,
/// a client picks the newest it was built with.
///
/// # Errors
/// As [`Client::connect`], for a server that cannot be reached or refuses the credentials;
/// [`ConnectError::HandshakeRefused`] with code 4001 and an empty list is not an error: the server
/// does not say (`ServerConfig::explain_schema_mismatch(false)`), and `Ok(vec![])` is returned.
pub async fn offered_services(config: ClientConfig) -> Result<Vec<OfferedService>, ConnectError> {
    let probe = Client::<dyn Probe>::new(config);
    match probe.connect().await {
        Err(ConnectError::HandshakeRefused {
            code: close::SCHEMA_MISMATCH,
            ..
        }) => Ok(probe.server_schemas()),
        Err(other) => Err(other),
        // A server hosting the probe would be one written to fool this: it says nothing.
        Ok(()) => {
            probe.disconnect().await;
            Ok(Vec::new())
        }
    }
}
