//! Calls: multiplexing, ordering, the slot limit, and every kind of failure a caller can see.
mod common;

use common::*;
use hardlight::*;

#[tokio::test]
async fn typed_calls_round_trip_over_tls() {
    let server = TestServer::start().await;
    let client = server.client().await;
    assert_eq!(client.add(2, 40).await.unwrap(), 42);
    assert_eq!(client.echo(vec![1, 2, 3]).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(client.context_name().await.unwrap(), "test-context");
}

#[tokio::test]
async fn a_slow_call_does_not_delay_a_fast_one_and_replies_come_in_any_order() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;
    // The slow call is parked inside its handler; a later call completes first.
    assert_eq!(within("fast call", client.add(1, 1)).await.unwrap(), 2);
    assert!(!slow.is_finished());
    server.ctx.gate.add_permits(1);
    assert_eq!(within("slow call", slow).await.unwrap().unwrap(), 1);
}

/// Takes the connection's 256 slots with gate calls, and returns them once all 256 run
/// concurrently on the server (each inside its handler at once).
async fn take_every_slot(
    server: &TestServer,
    client: &TestClient,
) -> tokio::task::JoinSet<Result<u32, CallError<HandlerError>>> {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..256 {
        let client = client.clone();
        calls.spawn(async move { client.gate().await });
    }
    server.ctx.wait_entered(256).await;
    calls
}

#[tokio::test]
async fn call_257_waits_for_a_free_slot_then_succeeds() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut calls = take_every_slot(&server, &client).await;
    assert_eq!(server.stats.calls_in_flight(), 256);

    let extra = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    // Free one slot: the 257th enters, and, once the gate opens for it too, succeeds.
    server.ctx.gate.add_permits(1);
    server.ctx.wait_entered(257).await;
    server.ctx.gate.add_permits(256);
    // Each gate call reports how many were inside at its entry: had the 257th entered while the
    // 256 held every slot, it would have found 256 others there. It found the 255 left after one
    // went out.
    let inside_at_entry = within("257th call", extra).await.unwrap().unwrap();
    assert_eq!(
        inside_at_entry, 256,
        "the 257th call entered its handler while every slot was taken"
    );
    while let Some(result) = within("256 calls", calls.join_next()).await {
        assert!(result.unwrap().unwrap() <= 256);
    }
}

#[tokio::test]
async fn a_caller_that_gives_up_waiting_for_a_slot_leaves_its_turn_to_the_next() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut calls = take_every_slot(&server, &client).await;
    // Two more callers queue for a slot, the first with a deadline it reaches while waiting.
    let impatient = tokio::spawn({
        let client = client.with_timeout(std::time::Duration::from_millis(200));
        async move { client.gate().await }
    });
    let patient = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    match within("the impatient caller", impatient).await.unwrap() {
        Err(CallError::Rpc(RpcError::Timeout(_))) => {}
        other => panic!("expected a timeout while waiting for a slot, got {other:?}"),
    }
    // It never reached the server, and its place in the queue went with it: the slot freed
    // next is the patient caller's.
    assert_eq!(*server.ctx.entered.borrow(), 256);
    server.ctx.gate.add_permits(1);
    server.ctx.wait_entered(257).await;
    server.ctx.gate.add_permits(256);
    assert_eq!(
        within("the patient caller", patient)
            .await
            .unwrap()
            .unwrap(),
        256
    );
    while let Some(result) = within("256 calls", calls.join_next()).await {
        assert!(result.unwrap().is_ok());
    }
}

#[tokio::test]
async fn handler_errors_arrive_typed() {
    let server = TestServer::start().await;
    let client = server.client().await;
    client.fail(0).await.unwrap();
    match client.fail(404).await {
        Err(CallError::Handler(TestError::NotFound(what))) => assert_eq!(what, "thing"),
        other => panic!("{other:?}"),
    }
    match client.fail(7).await {
        Err(CallError::Handler(TestError::Invalid { code })) => assert_eq!(code, 7),
        other => panic!("{other:?}"),
    }
    match client.add(u32::MAX, 1).await {
        Err(CallError::Handler(e)) => assert_eq!(e.message(), "overflow"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_call() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let parked = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;
    match within("panicking call", client.explode()).await {
        Err(CallError::Rpc(RpcError::HandlerPanicked(message))) => {
            assert!(message.contains("always panics"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // The connection, and the call in flight beside the panic, carry on.
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    server.ctx.gate.add_permits(1);
    assert!(within("parked call", parked).await.unwrap().is_ok());
}

#[tokio::test]
async fn every_call_in_flight_fails_at_once_when_the_connection_drops() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = client.clone();
        calls.spawn(async move { client.gate().await });
    }
    server.ctx.wait_entered(50).await;
    server.kill();
    while let Some(result) = within("calls to fail", calls.join_next()).await {
        match result.unwrap() {
            Err(CallError::Rpc(RpcError::ConnectionClosed { .. })) => {}
            other => panic!("expected ConnectionClosed, got {other:?}"),
        }
    }
    // Later calls fail at once too.
    assert!(matches!(
        within("call after drop", client.add(1, 1)).await,
        Err(CallError::Rpc(RpcError::NotConnected))
    ));
}

#[tokio::test]
async fn calling_before_connect_is_not_connected() {
    let server = TestServer::start().await;
    let client = TestClient::new(server.client_config());
    assert!(matches!(
        client.add(1, 1).await,
        Err(CallError::Rpc(RpcError::NotConnected))
    ));
    assert!(matches!(client.state().await, Err(RpcError::NotConnected)));
}

#[tokio::test]
async fn a_call_larger_than_the_servers_limit_is_refused_locally() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(1024),
    )
    .await;
    let client = server.client().await;
    match client.echo(vec![0; 4096]).await {
        Err(CallError::Rpc(RpcError::LimitExceeded(why))) => assert!(why.contains("1024"), "{why}"),
        other => panic!("{other:?}"),
    }
    // The connection is still usable.
    assert_eq!(client.echo(vec![9; 100]).await.unwrap(), vec![9; 100]);
}

#[tokio::test]
async fn a_compressed_call_is_held_to_the_servers_limit_once_inflated() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(1024),
    )
    .await;
    let client = server
        .client_with(server.client_config().compression(Compression::best()))
        .await;
    // 4 KiB of zeros deflate to a few dozen bytes, but the server would inflate them past its
    // limit and close the connection: the client refuses the call itself.
    match client.echo(vec![0; 4096]).await {
        Err(CallError::Rpc(RpcError::LimitExceeded(why))) => assert!(why.contains("1024"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.echo(vec![9; 100]).await.unwrap(), vec![9; 100]);
}

#[tokio::test]
async fn a_client_of_another_schema_is_refused_with_the_reason() {
    #[rpc]
    trait Other {
        async fn add(&self, a: u64) -> HandlerResult<u64>;
    }
    let server = TestServer::start().await;
    let client = OtherClient::new(server.client_config());
    match within("refused connect", client.connect()).await {
        Err(ConnectError::HandshakeRefused { code, reason }) => {
            assert_eq!(code, hardlight::wire::close::SCHEMA_MISMATCH);
            assert!(reason.contains("schema mismatch"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_server_frees_every_connection_when_clients_go() {
    let server = TestServer::start().await;
    let clients: Vec<_> = futures_util::future::join_all((0..10).map(|_| server.client())).await;
    for client in &clients {
        client.bump().await.unwrap();
    }
    assert_eq!(server.stats.connections(), 10);
    drop(clients);
    within(
        "connections to end",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    assert_eq!(server.stats.calls_in_flight(), 0);
}

#[tokio::test]
async fn replies_and_events_over_the_size_limit_are_refused_by_the_server() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(4096),
    )
    .await;
    let client = server.client().await;
    match within("oversized reply", client.blob(10_000)).await {
        Err(CallError::Rpc(RpcError::Internal(why))) => assert!(why.contains("exceeds"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.blob(100).await.unwrap().len(), 100);
    client.join("big".into()).await.unwrap();
    let event = TestEvent::Text("x".repeat(10_000));
    assert!(matches!(
        server.emitter.emit(&Topic::from("big"), event).await,
        Err(EmitError::FrameTooLarge { size, max }) if size > 10_000 && max == 4096
    ));
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_client_killed_mid_call_leaves_nothing_behind_on_the_server() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // Three calls that wait inside their handler (method 2, `gate`), then the peer vanishes
    // without a close frame, as a killed process would.
    for id in 1..=3 {
        send_binary(
            &mut ws,
            hardlight::__private::wire::frame::encode_call(id, method::GATE, &()).unwrap(),
        )
        .await;
    }
    server.ctx.wait_entered(3).await;
    assert_eq!(server.stats.calls_in_flight(), 3);
    drop(ws);
    within(
        "the connection to end",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    // The handlers' futures were dropped with the connection.
    assert_eq!(server.stats.calls_in_flight(), 0);
    let client = server.client().await;
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
}

/// On the caller's side, a call in flight is its future, so that future's size is the memory every
/// waiting call holds and moves about. Each layer that wraps another future adds to it, and an
/// `async fn` that takes a future as an argument and awaits it keeps two copies of it. A 64-byte
/// echo measured 1,656 bytes when the timeout wrapper was an `async fn`, and 1,136 bytes after that
/// was fixed. The limit allows for changes in the compiler.
#[tokio::test]
async fn a_call_in_flight_holds_a_small_future() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let call = client.echo(vec![7; 64]);
    let size = std::mem::size_of_val(&call);
    assert!(
        size <= 1280,
        "a call's future is {size} bytes: a wrapper holds a future twice (see rt::timeout)"
    );
    assert_eq!(call.await.unwrap(), vec![7; 64]);
}
