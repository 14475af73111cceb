//! The WebSocket upgrade request a client sends: the URL, the subprotocol offer, and the
//! authentication token where the configuration puts it ([`crate::wire::auth`]). [`upgrade`] decides
//! all three for every transport; [`request_head`] writes the native client's request of them.
//!
//! The native client writes its request itself rather than through tungstenite's client handshake,
//! which logs the whole request (an `Authorization` header, a `hardlight-auth.` entry or a `?token=`
//! included) at TRACE level: whatever an application's logging captures, the token is not in it.

use super::config::{ClientConfig, Target};
use crate::error::ConnectError;
use crate::wire::auth::{
    BEARER_SCHEME, TOKEN_QUERY_PARAMETER, TokenCarrier, auth_subprotocol, encode_query_value,
};
use crate::wire::frame::MAX_BATCH;
use crate::wire::handshake::{BATCH_TOKEN, client_offer};

/// What an upgrade request carries, whatever sends it.
pub(crate) struct Upgrade {
    /// The URL, with the token's query parameter when it travels there.
    pub url: String,
    /// The request target (the URL's path and query), as the request line carries it.
    pub path: String,
    /// The subprotocol offer, with the token's entry when it travels there.
    pub offer: Vec<String>,
    /// The `Authorization` header's value when the token travels there.
    pub authorization: Option<String>,
}

/// The URL, offer and header for a client of the service with schema `fingerprint`.
///
/// # Errors
/// [`ConnectError::InvalidToken`] if the token cannot travel where the configuration puts it.
pub(crate) fn upgrade(
    config: &ClientConfig,
    target: &Target,
    fingerprint: u64,
) -> Result<Upgrade, ConnectError> {
    let mut offer = client_offer(fingerprint, config.compression.level());
    // Batched items come in frames of up to `MAX_BATCH` bytes: only for a client that takes them.
    if config.max_message_size < MAX_BATCH {
        offer.retain(|token| token != BATCH_TOKEN);
    }
    let mut upgrade = Upgrade {
        url: target.url(),
        path: target.path.clone(),
        offer,
        authorization: None,
    };
    if let Some(auth) = &config.auth {
        auth.carrier.check(&auth.token).map_err(|why| {
            ConnectError::InvalidToken(format!("{why} ({:?} carrier)", auth.carrier))
        })?;
        match auth.carrier {
            TokenCarrier::Header => {
                upgrade.authorization = Some(format!("{BEARER_SCHEME} {}", auth.token));
            }
            TokenCarrier::Subprotocol => upgrade.offer.push(auth_subprotocol(&auth.token)),
            TokenCarrier::Query => {
                let separator = if target.path.contains('?') { '&' } else { '?' };
                let parameter = format!(
                    "{separator}{TOKEN_QUERY_PARAMETER}={}",
                    encode_query_value(&auth.token)
                );
                upgrade.url.push_str(&parameter);
                upgrade.path.push_str(&parameter);
            }
        }
    }
    Ok(upgrade)
}

/// The head of the upgrade request for a client of the service with schema `fingerprint`, offering
/// `key` as its `Sec-WebSocket-Key`: what tungstenite's client would send, headers in the same order.
///
/// # Errors
/// [`ConnectError::InvalidToken`] if the token cannot travel where the configuration puts it.
#[cfg(hardlight_native)]
pub(crate) fn request_head(
    config: &ClientConfig,
    target: &Target,
    fingerprint: u64,
    key: &str,
) -> Result<Vec<u8>, ConnectError> {
    let Upgrade {
        path,
        offer,
        authorization,
        ..
    } = upgrade(config, target, fingerprint)?;
    // `Target::parse` let through only characters that cannot end the line or the header early;
    // the offer and the token were checked to be header-safe.
    let host = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let mut head = format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Connection: Upgrade\r\n\
         Upgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Protocol: {}\r\n",
        offer.join(", ")
    );
    if let Some(authorization) = authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

#[cfg(all(test, hardlight_native))]
mod tests {
    use super::*;

    fn head(config: ClientConfig) -> Result<String, ConnectError> {
        let target = Target::parse(&config.address, false)?;
        let head = request_head(&config, &target, 0x0123_4567_89ab_cdef, "a2V5")?;
        Ok(String::from_utf8(head).expect("ASCII"))
    }

    #[test]
    fn batched_items_are_offered_only_by_a_client_that_takes_their_frames() {
        let base = || ClientConfig::plaintext("ws://h:1/");
        let offers = |config: ClientConfig| head(config).expect("request").contains(BATCH_TOKEN);
        assert!(offers(base()));
        assert!(offers(base().max_message_size(MAX_BATCH)));
        assert!(!offers(base().max_message_size(MAX_BATCH - 1)));
    }

    #[test]
    fn each_carrier_puts_the_token_in_its_place() {
        let base = || ClientConfig::plaintext("ws://h:1/rpc?room=1");
        let header = head(base().auth_token("t.1")).expect("request");
        assert_eq!(
            header,
            "GET /rpc?room=1 HTTP/1.1\r\nHost: h:1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: a2V5\r\n\
             Sec-WebSocket-Protocol: hardlight.v1, hardlight.schema.0123456789abcdef, hardlight.explain, hardlight.batch, hardlight.trace, hardlight.metadata\r\n\
             Authorization: Bearer t.1\r\n\r\n"
        );

        let sub = head(base().auth_token_via(TokenCarrier::Subprotocol, "t.1")).expect("request");
        assert!(!sub.contains("Authorization"), "{sub}");
        assert!(
            sub.contains(
                "Sec-WebSocket-Protocol: hardlight.v1, hardlight.schema.0123456789abcdef, \
                 hardlight.explain, hardlight.batch, hardlight.trace, hardlight.metadata, hardlight-auth.t.1\r\n"
            ),
            "{sub}"
        );

        let query = head(base().auth_token_via(TokenCarrier::Query, "a b/c")).expect("request");
        assert!(
            query.starts_with("GET /rpc?room=1&token=a%20b%2Fc HTTP/1.1\r\n"),
            "{query}"
        );
        let v6 = head(ClientConfig::plaintext("ws://[::1]:7")).expect("request");
        assert!(
            v6.starts_with("GET / HTTP/1.1\r\nHost: [::1]:7\r\n"),
            "{v6}"
        );
    }

    #[test]
    fn a_token_its_carrier_cannot_hold_is_an_error() {
        let bad = head(
            ClientConfig::plaintext("h:1").auth_token_via(TokenCarrier::Subprotocol, "YWJj=="),
        );
        match bad {
            Err(ConnectError::InvalidToken(why)) => {
                assert!(why.contains("'='"), "{why}");
                assert!(!why.contains("YWJj"), "{why}");
            }
            other => panic!("expected InvalidToken, got {other:?}"),
        }
        assert!(matches!(
            head(ClientConfig::plaintext("h:1").auth_token("two words")),
            Err(ConnectError::InvalidToken(_))
        ));
    }
}
