//! Arbitrary text through the three token carriers the server reads (`Authorization: Bearer`, the
//! `hardlight-auth.<token>` subprotocol entry, the `token` query parameter), checking what their
//! callers rely on: no panic, a found token is a part of the input, and what the client encodes into
//! a query comes back out unchanged.

#![no_main]

use hardlight::__private::wire::auth::{
    auth_subprotocol, bearer_token, encode_query_value, is_token, query_param, subprotocol_token,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Some(token) = bearer_token(&text) {
        assert!(!token.is_empty());
        assert!(text.contains(token));
    }

    let offered: Vec<&str> = text.split('\n').collect();
    if let Some(token) = subprotocol_token(offered.iter().copied()) {
        assert!(!token.is_empty());
        assert!(text.contains(&auth_subprotocol(token)));
    }

    // Any query string: decoding never panics, whatever the escapes.
    let _ = query_param(&text, "token");

    // Whatever the client puts in a query comes back as it was.
    let encoded = encode_query_value(&text);
    assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
    let query = format!("room=1&token={encoded}&token=second");
    assert_eq!(query_param(&query, "token").as_deref(), Some(&*text));

    // A token is what a subprotocol entry may hold; anything else is not.
    if is_token(&text) {
        assert_eq!(
            subprotocol_token([auth_subprotocol(&text).as_str()]),
            Some(&*text)
        );
    }
});
