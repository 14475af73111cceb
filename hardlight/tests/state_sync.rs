//! Connection state: snapshot at connect, changed fields only, applied before the call resolves.
mod common;

use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{ServerFrame, decode_server, encode_call};
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_state_change_is_visible_when_the_call_returns() {
    let server = TestServer::start().await;
    let client = server.client().await;
    assert_eq!(client.state().await.unwrap().counter, 0);
    for expected in 1..=100 {
        assert_eq!(client.bump().await.unwrap(), expected);
        // No polling: the change arrived ahead of the reply.
        assert_eq!(client.state().await.unwrap().counter, expected);
    }
    client.join("room".into()).await.unwrap();
    assert_eq!(
        client.state().await.unwrap().topics,
        vec!["room".to_owned()]
    );
}

#[tokio::test]
async fn clients_can_watch_state_changes() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut watcher = client.watch_state();
    client.set_name("ada".into()).await.unwrap();
    let state = within("a state change", watcher.changed()).await.unwrap();
    assert_eq!(state.name, "ada");
    assert_eq!(watcher.current().name, "ada");
}

#[tokio::test]
async fn each_connection_has_its_own_state() {
    let server = TestServer::start().await;
    let a = server.client().await;
    let b = server.client().await;
    a.bump().await.unwrap();
    a.bump().await.unwrap();
    b.bump().await.unwrap();
    assert_eq!(a.state().await.unwrap().counter, 2);
    assert_eq!(b.state().await.unwrap().counter, 1);
}

#[tokio::test]
async fn hello_carries_every_field_and_state_frames_only_the_changed_ones() {
    let server = TestServer::start().await;
    let (mut ws, hello) = raw_hardlight(server.port, None).await;
    match decode_server(&hello).unwrap() {
        ServerFrame::Hello(hello) => {
            let indexes: Vec<u16> = hello.state.iter().map(|(i, _)| i).collect();
            assert_eq!(indexes, vec![0, 1, 2], "snapshot holds every field");
            assert_eq!(hello.max_calls, 256);
        }
        other => panic!("{other:?}"),
    }
    // set_name is method 5 and changes only `name` (field 1).
    let call = encode_call(1, method::SET_NAME, &(String::from("grace"),)).unwrap();
    send_binary(&mut ws, call).await;
    let mut frames = Vec::new();
    while frames.len() < 2 {
        match within("frames", ws.next()).await {
            Some(Ok(Message::Binary(b))) => frames.push(b.to_vec()),
            other => panic!("{other:?}"),
        }
    }
    match decode_server(&frames[0]).unwrap() {
        ServerFrame::State(fields) => {
            let fields: Vec<(u16, Vec<u8>)> = fields.iter().map(|(i, b)| (i, b.to_vec())).collect();
            assert_eq!(fields.len(), 1, "only the changed field is sent");
            assert_eq!(fields[0].0, 1);
            assert_eq!(String::decode(&fields[0].1).unwrap(), "grace");
        }
        other => panic!("state change must come before the reply, got {other:?}"),
    }
    assert!(matches!(
        decode_server(&frames[1]).unwrap(),
        ServerFrame::Reply { call_id: 1, .. }
    ));
    // Setting the same value again changes nothing, so no STATE frame precedes the reply.
    let call = encode_call(2, method::SET_NAME, &(String::from("grace"),)).unwrap();
    send_binary(&mut ws, call).await;
    match within("reply", ws.next()).await {
        Some(Ok(Message::Binary(b))) => assert!(matches!(
            decode_server(&b).unwrap(),
            ServerFrame::Reply { call_id: 2, .. }
        )),
        other => panic!("{other:?}"),
    }
}
