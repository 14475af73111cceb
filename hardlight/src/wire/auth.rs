//! Where an authentication token travels in the opening handshake, and how each carrier is written
//! and read. hardlight never interprets the token: the server hands it to the application's hook
//! ([`ServerConfig::authenticate`](crate::ServerConfig::authenticate)).
//!
//! Three carriers, in the order the server looks for a token
//! ([`UpgradeRequest::token`](crate::server::UpgradeRequest::token)):
//!
//! 1. the header `Authorization: Bearer <token>` (native clients; browsers cannot set headers on a
//!    WebSocket);
//! 2. the subprotocol entry `hardlight-auth.<token>` in `Sec-WebSocket-Protocol`, next to
//!    `hardlight.v1` and the schema: what a browser can send
//!    (`new WebSocket(url, ["hardlight.v1", "hardlight.schema.<fp>", "hardlight-auth.<token>"])`).
//!    The server never selects it. A subprotocol is an RFC 7230 token, so the token must be made of
//!    token characters ([`is_token`]): unpadded base64url and JWTs qualify, `=` padding does not;
//! 3. the query parameter `token=<token>`, percent-encoded, in the request URL. Query strings end
//!    up in access logs and browser history: prefer the subprotocol.

use std::fmt::Write as _;

/// Prefix of the subprotocol entry that carries a token: `hardlight-auth.<token>`.
pub const AUTH_SUBPROTOCOL_PREFIX: &str = "hardlight-auth.";
/// Name of the query parameter that carries a token: `?token=<token>`.
pub const TOKEN_QUERY_PARAMETER: &str = "token";
/// The `Authorization` scheme that carries a token: `Authorization: Bearer <token>`.
pub const BEARER_SCHEME: &str = "Bearer";

/// Where a client puts its token ([`ClientConfig::auth_token_via`](crate::ClientConfig::auth_token_via)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenCarrier {
    /// `Authorization: Bearer <token>`: visible ASCII, no spaces.
    Header,
    /// A subprotocol entry `hardlight-auth.<token>`: RFC 7230 token characters only.
    Subprotocol,
    /// The query parameter `token=<token>`, percent-encoded: any text.
    Query,
}

impl TokenCarrier {
    /// Checks that `token` can travel in this carrier; the error says why not.
    ///
    /// ```
    /// use hardlight::__private::wire::auth::TokenCarrier;
    /// assert!(TokenCarrier::Subprotocol.check("eyJhbGciOi.eyJzdWIi.c2ln").is_ok());
    /// assert!(TokenCarrier::Subprotocol.check("YWJj=").is_err());
    /// assert!(TokenCarrier::Query.check("any text at all").is_ok());
    /// ```
    pub fn check(self, token: &str) -> Result<(), String> {
        if token.is_empty() {
            return Err("the token is empty".to_owned());
        }
        let bad = match self {
            TokenCarrier::Header => token.chars().find(|c| !matches!(c, '!'..='~')),
            TokenCarrier::Subprotocol => token
                .chars()
                .find(|c| !c.is_ascii() || !is_token_char(*c as u8)),
            TokenCarrier::Query => None,
        };
        match bad {
            None => Ok(()),
            Some(c) => Err(format!(
                "the token contains {c:?}, which {}",
                match self {
                    TokenCarrier::Header =>
                        "an Authorization header cannot carry (visible ASCII only, no spaces)",
                    _ =>
                        "a subprotocol cannot carry (RFC 7230 token characters only: letters, digits and !#$%&'*+-.^_`|~; use unpadded base64url)",
                }
            )),
        }
    }
}

/// An RFC 7230 `tchar`: the characters a subprotocol (and an HTTP token generally) may hold.
pub const fn is_token_char(byte: u8) -> bool {
    matches!(byte,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~')
}

/// True if `text` is a non-empty RFC 7230 token.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_token_char)
}

/// The token of an `Authorization` header value `Bearer <token>` (the scheme compared ASCII
/// case-insensitively); `None` for another scheme or an empty token.
///
/// ```
/// use hardlight::__private::wire::auth::bearer_token;
/// assert_eq!(bearer_token("Bearer abc.def"), Some("abc.def"));
/// assert_eq!(bearer_token("bearer   abc "), Some("abc"));
/// assert_eq!(bearer_token("Basic YWxhZGRpbg"), None);
/// ```
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case(BEARER_SCHEME) && !token.is_empty()).then_some(token)
}

/// The subprotocol entry that carries `token`.
pub fn auth_subprotocol(token: &str) -> String {
    format!("{AUTH_SUBPROTOCOL_PREFIX}{token}")
}

/// The token of the first `hardlight-auth.<token>` entry among the offered subprotocols (each
/// header value split at commas).
pub fn subprotocol_token<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().strip_prefix(AUTH_SUBPROTOCOL_PREFIX))
        .find(|token| !token.is_empty())
}

/// The value of the first parameter `name` in a query string (`a=1&b=2`, without the `?`),
/// percent-decoded as browsers encode forms (`+` is a space); `None` if it is absent or does not
/// decode to UTF-8.
///
/// ```
/// use hardlight::__private::wire::auth::query_param;
/// assert_eq!(query_param("room=1&token=a%2Bb%3D", "token").as_deref(), Some("a+b="));
/// assert_eq!(query_param("token", "token").as_deref(), Some(""));
/// assert_eq!(query_param("tokens=1", "token"), None);
/// ```
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key, Plus::Space).as_deref() == Some(name))
            .then(|| percent_decode(value, Plus::Space))
            .flatten()
    })
}

/// Percent-encodes `value` for a query string: everything but RFC 3986 unreserved characters.
pub fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// What a `+` means in percent-encoded text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    /// A space, as in a query string (HTML forms).
    Space,
    /// Itself, as in a URL's userinfo (the NATS bridge's credentials).
    #[cfg(hardlight_nats)]
    Literal,
}

/// Decodes `%XX` escapes, and `+` as `plus` says; `None` if the result is not UTF-8. A `%` not
/// followed by two hex digits is kept as it is, as browsers do.
pub(crate) fn percent_decode(text: &str, plus: Plus) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(&[high, low])) => hex_pair(high, low),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(match (bytes[i], plus) {
                    (b'+', Plus::Space) => b' ',
                    (byte, _) => byte,
                });
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_round_trips_through_the_query(value in any::<String>(), other in any::<String>()) {
            let query = format!("a={}&token={}", encode_query_value(&other), encode_query_value(&value));
            prop_assert_eq!(query_param(&query, "token"), Some(value));
        }

        #[test]
        fn reading_any_text_never_panics(text in any::<String>()) {
            let _ = query_param(&text, "token");
            let _ = bearer_token(&text);
            let _ = subprotocol_token([text.as_str()]);
            for carrier in [TokenCarrier::Header, TokenCarrier::Subprotocol, TokenCarrier::Query] {
                let _ = carrier.check(&text);
            }
        }
    }

    #[test]
    fn finds_the_auth_subprotocol_among_others() {
        let offered = [
            "hardlight.v1, hardlight.schema.0123456789abcdef",
            "hardlight-auth.abc_-.1",
        ];
        assert_eq!(subprotocol_token(offered), Some("abc_-.1"));
        assert_eq!(subprotocol_token(["hardlight.v1", "hardlight-auth."]), None);
        assert_eq!(subprotocol_token(["hardlight.v1"]), None);
    }

    #[test]
    fn query_values_round_trip_through_encoding() {
        for value in ["plain", "a b+c=d&e", "ünïcode/ä?#", "%zz", ""] {
            let query = format!("x=1&token={}&token=second", encode_query_value(value));
            assert_eq!(
                query_param(&query, "token").as_deref(),
                Some(value),
                "{query}"
            );
        }
        // A stray `%` is kept, not an error.
        assert_eq!(query_param("token=50%", "token").as_deref(), Some("50%"));
        assert_eq!(query_param("token=%ff", "token"), None);
    }

    #[test]
    fn carriers_accept_only_what_they_can_carry() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";
        for carrier in [
            TokenCarrier::Header,
            TokenCarrier::Subprotocol,
            TokenCarrier::Query,
        ] {
            assert!(carrier.check(jwt).is_ok(), "{carrier:?}");
            assert!(carrier.check("").is_err(), "{carrier:?}");
        }
        assert!(TokenCarrier::Header.check("a b").is_err());
        assert!(TokenCarrier::Header.check("a/b+c=").is_ok());
        assert!(TokenCarrier::Subprotocol.check("a/b").is_err());
        assert!(TokenCarrier::Subprotocol.check("a,b").is_err());
        assert!(TokenCarrier::Subprotocol.check("é").is_err());
        assert!(TokenCarrier::Query.check("a b/é").is_ok());
    }
}
