//! Secrets kept out of what hardlight shows: an address, as it appears in an error, a log line or
//! `Debug` output, loses the credentials it may carry.

/// What stands where a secret was left out.
pub(crate) const REDACTED: &str = "<redacted>";

/// `address` (a URL, or `host:port` maybe followed by a path and a query) as hardlight shows it:
/// userinfo (`user:password@`) becomes `<redacted>@`, the value of every query parameter (a `token`
/// among them) becomes `<redacted>`, and a fragment goes. Scheme, host, port, path and the names of
/// the query parameters stay, which is what telling addresses apart needs.
pub(crate) fn address(address: &str) -> String {
    let (scheme, rest) = match address.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, address),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut shown = String::with_capacity(address.len());
    if let Some(scheme) = scheme {
        shown.push_str(scheme);
        shown.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            shown.push_str(REDACTED);
            shown.push('@');
            shown.push_str(host);
        }
        None => shown.push_str(authority),
    }
    let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    shown.push_str(path);
    if let Some(query) = query {
        shown.push('?');
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((name, _)) => format!("{name}={REDACTED}"),
                None if parameter.is_empty() => String::new(),
                // A bare value may be a secret as well.
                None => REDACTED.to_owned(),
            })
            .collect();
        shown.push_str(&parameters.join("&"));
    }
    shown
}

/// A list of addresses separated by commas (as NATS takes them), each as [`address`] shows it.
#[cfg(any(hardlight_nats, test))]
pub(crate) fn addresses(list: &str) -> String {
    list.split(',')
        .map(|one| address(one.trim()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_and_the_rest_stays() {
        for (given, shown) in [
            ("localhost:8080", "localhost:8080"),
            ("wss://h:1/rpc", "wss://h:1/rpc"),
            (
                "wss://h:1/rpc?room=1&token=s3cret",
                "wss://h:1/rpc?room=<redacted>&token=<redacted>",
            ),
            ("h:1?token=s3cret", "h:1?token=<redacted>"),
            ("h:1/?s3cret", "h:1/?<redacted>"),
            ("wss://ada:s3cret@h:1/x", "wss://<redacted>@h:1/x"),
            ("ada:s3cret@h:1", "<redacted>@h:1"),
            (
                "nats://s3cret@127.0.0.1:4222",
                "nats://<redacted>@127.0.0.1:4222",
            ),
            ("wss://h:1/x#s3cret", "wss://h:1/x"),
            ("wss://[::1]:1/x?a=b#c", "wss://[::1]:1/x?a=<redacted>"),
        ] {
            assert_eq!(address(given), shown, "{given}");
        }
        assert_eq!(
            addresses("nats://a:s3cret@h:1, nats://h:2"),
            "nats://<redacted>@h:1,nats://h:2"
        );
    }
}
