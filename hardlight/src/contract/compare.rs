//! What differs between two schema texts (`docs/PROTOCOL.md` §3): how a refused client says why,
//! from its own text and the texts the server sent in its `SCHEMA` frame.

use std::collections::HashMap;

/// Longest rendering of one side of a difference; longer lines are cut with `…`.
const MAX_SHOWN: usize = 160;

/// The first difference between the client's schema text and the one of the server's services
/// with the same name, in words, such as `type CounterEvent differs: the server has
/// "enum { Incremented { to: u32, from: u32 }, Reset }", the client "enum { Incremented { to: u32,
/// from: u32 } }"`. `None` if the texts are equal.
pub fn first_difference(client: &str, server: &[String]) -> Option<String> {
    let name = service_name(client);
    let Some(server) = server.iter().find(|text| service_name(text) == name) else {
        let hosted: Vec<&str> = server
            .iter()
            .filter_map(|text| service_name(text))
            .collect();
        let name = name.unwrap_or("?");
        return Some(if hosted.is_empty() {
            format!("the server does not host service {name}")
        } else {
            format!(
                "the server does not host service {name} (it hosts {})",
                hosted.join(", ")
            )
        });
    };
    if client == server {
        return None;
    }
    let (ours, theirs) = (Lines::of(client), Lines::of(server));
    // Methods are matched by position first: a method's index is its place in the list.
    for (index, (mine, other)) in ours.methods.iter().zip(&theirs.methods).enumerate() {
        if mine != other {
            return Some(format!(
                "method {index} is {} on the server, {} on the client",
                shown(other),
                shown(mine)
            ));
        }
    }
    for (key, line) in &ours.ordered {
        match theirs.by_key.get(key) {
            Some(other) if other == line => {}
            Some(other) => {
                return Some(format!(
                    "{key} differs: the server has {}, the client {}",
                    shown(definition(other)),
                    shown(definition(line))
                ));
            }
            None => return Some(format!("the server has no {key}")),
        }
    }
    theirs
        .ordered
        .iter()
        .find(|(key, _)| !ours.by_key.contains_key(key))
        .map(|(key, line)| format!("the client has no {key} (the server has {})", shown(line)))
        .or_else(|| Some("the texts differ".to_owned()))
}

/// The name in a text's first line, `service <name>`.
fn service_name(text: &str) -> Option<&str> {
    text.lines().next()?.strip_prefix("service ")
}

/// The lines of one text, each under the key that names the item it describes.
struct Lines<'a> {
    /// Every line but the first, in order, with its key.
    ordered: Vec<(String, &'a str)>,
    by_key: HashMap<String, &'a str>,
    /// The method lines, in order.
    methods: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn of(text: &'a str) -> Self {
        let mut ordered = Vec::new();
        let mut methods = Vec::new();
        for line in text.lines().skip(1) {
            let key = key(line);
            if key.starts_with("fn ") || key.starts_with("oneway fn ") {
                methods.push(line);
            }
            ordered.push((key, line));
        }
        let by_key = ordered.iter().map(|(k, l)| (k.clone(), *l)).collect();
        Self {
            ordered,
            by_key,
            methods,
        }
    }
}

/// What a line describes: `events`, `fn get` (`oneway fn log`), `state`, `field counter`,
/// `type CounterEvent`.
fn key(line: &str) -> String {
    let name_before = |rest: &str, end: char| rest.split(end).next().unwrap_or(rest).to_owned();
    if line.starts_with("events ") {
        "the event type".to_owned()
    } else if let Some(rest) = line.strip_prefix("oneway fn ") {
        format!("oneway fn {}", name_before(rest, '('))
    } else if let Some(rest) = line.strip_prefix("fn ") {
        format!("fn {}", name_before(rest, '('))
    } else if line.starts_with("state ") {
        "the state".to_owned()
    } else if let Some(rest) = line.strip_prefix("field ") {
        format!("state field {}", name_before(rest, ':'))
    } else if let Some(rest) = line.strip_prefix("type ") {
        format!("type {}", name_before(rest, ' '))
    } else {
        line.to_owned()
    }
}

/// The part of a line worth showing when its key is already said: a type's definition, an event
/// or state type, a field's type; a method's whole line.
fn definition(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix("type ") {
        return rest
            .split_once(" = ")
            .map_or(rest, |(_, definition)| definition);
    }
    if let Some(rest) = line.strip_prefix("field ") {
        return rest.split_once(": ").map_or(rest, |(_, ty)| ty);
    }
    line.strip_prefix("events ")
        .or_else(|| line.strip_prefix("state "))
        .unwrap_or(line)
}

/// `text` quoted, cut to [`MAX_SHOWN`] characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("\"{}…\"", &text[..cut]),
        None => format!("\"{text}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTER: &str = "service Counter\n\
        events CounterEvent\n\
        fn increment(u32) -> Result<(),HandlerError>\n\
        fn get() -> Result<u32,HandlerError>\n\
        state State\n\
        field counter: u32\n\
        type CounterEvent = enum { Incremented { to: u32, from: u32 } }\n\
        type HandlerError = struct { message: String }\n";

    fn server(text: &str) -> Vec<String> {
        vec!["service Admin\n".to_owned(), text.to_owned()]
    }

    #[test]
    fn equal_texts_have_no_difference() {
        assert_eq!(first_difference(COUNTER, &server(COUNTER)), None);
    }

    #[test]
    fn a_changed_type_is_named_with_both_definitions() {
        let theirs = COUNTER.replace(
            "Incremented { to: u32, from: u32 } }",
            "Incremented { to: u32, from: u32 }, Reset }",
        );
        assert_eq!(
            first_difference(COUNTER, &server(&theirs)).unwrap(),
            "type CounterEvent differs: the server has \
             \"enum { Incremented { to: u32, from: u32 }, Reset }\", \
             the client \"enum { Incremented { to: u32, from: u32 } }\""
        );
    }

    #[test]
    fn methods_are_compared_by_position_then_by_name() {
        let swapped = COUNTER.replace(
            "fn increment(u32) -> Result<(),HandlerError>\nfn get() -> Result<u32,HandlerError>\n",
            "fn get() -> Result<u32,HandlerError>\nfn increment(u32) -> Result<(),HandlerError>\n",
        );
        assert_eq!(
            first_difference(COUNTER, &server(&swapped)).unwrap(),
            "method 0 is \"fn get() -> Result<u32,HandlerError>\" on the server, \
             \"fn increment(u32) -> Result<(),HandlerError>\" on the client"
        );
        let more = COUNTER.replace(
            "state State\n",
            "fn reset() -> Result<(),HandlerError>\nstate State\n",
        );
        assert_eq!(
            first_difference(COUNTER, &server(&more)).unwrap(),
            "the client has no fn reset (the server has \"fn reset() -> Result<(),HandlerError>\")"
        );
        assert_eq!(
            first_difference(&more, &server(COUNTER)).unwrap(),
            "the server has no fn reset"
        );
    }

    #[test]
    fn a_changed_field_shows_the_types() {
        let wider = COUNTER.replace("field counter: u32", "field counter: u64");
        assert_eq!(
            first_difference(COUNTER, &server(&wider)).unwrap(),
            "state field counter differs: the server has \"u64\", the client \"u32\""
        );
    }

    #[test]
    fn a_service_the_server_does_not_host_lists_those_it_does() {
        assert_eq!(
            first_difference(COUNTER, &["service Admin\n".to_owned()]).unwrap(),
            "the server does not host service Counter (it hosts Admin)"
        );
        assert_eq!(
            first_difference(COUNTER, &[]).unwrap(),
            "the server does not host service Counter"
        );
    }

    #[test]
    fn long_definitions_are_cut() {
        let long = format!("enum {{ {} }}", "A, ".repeat(100));
        let theirs = COUNTER.replace("enum { Incremented { to: u32, from: u32 } }", &long);
        let said = first_difference(COUNTER, &server(&theirs)).unwrap();
        assert!(said.contains("…\""), "{said}");
        assert!(said.len() < 2 * MAX_SHOWN + 100, "{said}");
    }
}
