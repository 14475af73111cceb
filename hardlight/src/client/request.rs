//! The WebSocket upgrade request a client sends: the URL, the subprotocol offer, and the
//! authentication token where the configuration puts it ([`crate::wire::auth`]). [`upgrade`] decides
//! all three for every transport; [`upgrade_request`] makes tungstenite's request of them.

#[cfg(feature = "native")]
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
#[cfg(feature = "native")]
use tokio_tungstenite::tungstenite::handshake::client::Request;
#[cfg(feature = "native")]
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};

use super::config::{ClientConfig, Target};
use crate::error::Error;
use crate::wire::auth::{
    BEARER_SCHEME, TOKEN_QUERY_PARAMETER, TokenCarrier, auth_subprotocol, encode_query_value,
};
use crate::wire::handshake::client_offer;

/// What an upgrade request carries, whatever sends it.
pub(crate) struct Upgrade {
    /// The URL, with the token's query parameter when it travels there.
    pub url: String,
    /// The subprotocol offer, with the token's entry when it travels there.
    pub offer: Vec<String>,
    /// The `Authorization` header's value when the token travels there.
    pub authorization: Option<String>,
}

/// The URL, offer and header for a client of the service with schema `fingerprint`.
///
/// # Errors
/// [`Error::InvalidToken`] if the token cannot travel where the configuration puts it.
pub(crate) fn upgrade(
    config: &ClientConfig,
    target: &Target,
    fingerprint: u64,
) -> Result<Upgrade, Error> {
    let mut upgrade = Upgrade {
        url: target.url(),
        offer: client_offer(fingerprint, config.compression.level()),
        authorization: None,
    };
    if let Some(auth) = &config.auth {
        auth.carrier
            .check(&auth.token)
            .map_err(|why| Error::InvalidToken(format!("{why} ({:?} carrier)", auth.carrier)))?;
        match auth.carrier {
            TokenCarrier::Header => {
                upgrade.authorization = Some(format!("{BEARER_SCHEME} {}", auth.token));
            }
            TokenCarrier::Subprotocol => upgrade.offer.push(auth_subprotocol(&auth.token)),
            TokenCarrier::Query => {
                let separator = if target.path.contains('?') { '&' } else { '?' };
                upgrade.url = format!(
                    "{}{separator}{TOKEN_QUERY_PARAMETER}={}",
                    upgrade.url,
                    encode_query_value(&auth.token)
                );
            }
        }
    }
    Ok(upgrade)
}

/// The upgrade request for a client of the service with schema `fingerprint`.
///
/// # Errors
/// [`Error::InvalidToken`] if the token cannot travel where the configuration puts it;
/// [`Error::Transport`] if the URL cannot make a request.
#[cfg(feature = "native")]
pub(crate) fn upgrade_request(
    config: &ClientConfig,
    target: &Target,
    fingerprint: u64,
) -> Result<Request, Error> {
    let Upgrade {
        url,
        offer,
        authorization,
    } = upgrade(config, target, fingerprint)?;
    let mut request = url
        .into_client_request()
        .map_err(|e| Error::Transport(e.to_string()))?;
    let headers = request.headers_mut();
    let value =
        |text: &str| HeaderValue::from_str(text).map_err(|e| Error::Transport(e.to_string()));
    headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value(&offer.join(", "))?);
    if let Some(authorization) = authorization {
        let mut authorization = value(&authorization)?;
        // Keeps it out of HTTP/2 header tables and debug output of the http crate.
        authorization.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, authorization);
    }
    Ok(request)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    fn request(config: ClientConfig) -> Result<Request, Error> {
        let target = Target::parse(&config.address, false)?;
        upgrade_request(&config, &target, 0x0123_4567_89ab_cdef)
    }

    fn protocols(request: &Request) -> &str {
        request.headers()[header::SEC_WEBSOCKET_PROTOCOL]
            .to_str()
            .expect("ASCII")
    }

    #[test]
    fn each_carrier_puts_the_token_in_its_place() {
        let base = || ClientConfig::plaintext("ws://h:1/rpc?room=1");
        let header = request(base().auth_token("t.1")).expect("request");
        assert_eq!(header.headers()[header::AUTHORIZATION], "Bearer t.1");
        assert_eq!(
            protocols(&header),
            "hardlight.v1, hardlight.schema.0123456789abcdef"
        );

        let sub =
            request(base().auth_token_via(TokenCarrier::Subprotocol, "t.1")).expect("request");
        assert!(sub.headers().get(header::AUTHORIZATION).is_none());
        assert_eq!(
            protocols(&sub),
            "hardlight.v1, hardlight.schema.0123456789abcdef, hardlight-auth.t.1"
        );

        let query = request(base().auth_token_via(TokenCarrier::Query, "a b/c")).expect("request");
        assert_eq!(
            query.uri().to_string(),
            "ws://h:1/rpc?room=1&token=a%20b%2Fc"
        );
    }

    #[test]
    fn a_token_its_carrier_cannot_hold_is_an_error() {
        let bad = request(
            ClientConfig::plaintext("h:1").auth_token_via(TokenCarrier::Subprotocol, "YWJj=="),
        );
        match bad {
            Err(Error::InvalidToken(why)) => assert!(why.contains("'='"), "{why}"),
            other => panic!("expected InvalidToken, got {other:?}"),
        }
        assert!(matches!(
            request(ClientConfig::plaintext("h:1").auth_token("two words")),
            Err(Error::InvalidToken(_))
        ));
    }
}
