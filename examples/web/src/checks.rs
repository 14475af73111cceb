//! What the browser test (`tests/browser.rs`) runs inside Chromium, against a native server: the
//! client's whole API over the browser's WebSocket. Each check fails with what it saw.
//!
//! `run_checks(url)` connects and exercises calls, state, events, handler errors, 300 calls at once
//! (more than the 256 in flight a connection allows: the rest must wait, not fail) and zero-copy
//! views both ways (an argument the server reads in place, a reply read in place here); it keeps
//! the client, and `await_close()` then reports the typed error it gets when the server closes.
//! `connect_reconnecting(url)` connects a client that reconnects, and `await_reconnected()` reports
//! what it went through once the server is back. `pin_notes(url, count, size)` sends many large
//! one-way messages, for a server that reads them slowly.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use hardlight::{
    Archived, CallError, ClosedError, ConnectionEvent, ConnectionEvents, Reconnect, RpcError,
};
use wasm_bindgen::prelude::*;

use crate::browser::{client_config, to_js};
use crate::service::{ArchivedBoardEvent, BoardClient, BoardEvent, RECENT_EVENTS};

/// More calls than one connection has in flight at once.
const CONCURRENT_CALLS: usize = 300;

thread_local! {
    /// The client `run_checks` connected, for `await_close`.
    static CLIENT: RefCell<Option<BoardClient>> = const { RefCell::new(None) };
    /// The client `connect_reconnecting` connected, with its connection events.
    static RECONNECTING: RefCell<Option<(BoardClient, ConnectionEvents)>> = const { RefCell::new(None) };
}

macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(JsValue::from(format!($($message)+)));
        }
    };
}

/// Runs the checks against the board server at `url`; resolves with what was checked, rejects
/// with the first check that failed.
#[wasm_bindgen]
pub async fn run_checks(url: String) -> Result<String, JsValue> {
    let mut report = Vec::new();
    let client = BoardClient::new(client_config(&url).connect_timeout(Duration::from_secs(10)));
    client
        .connect()
        .await
        .map_err(|e| to_js(format!("connect: {e}")))?;
    report.push(format!("connected to {url}"));

    let snapshot = client.state().await.map_err(to_js)?;
    ensure!(
        snapshot.name.is_empty() && snapshot.bumps == 0,
        "the state snapshot of a new connection is {snapshot:?}"
    );
    let mut events = client.subscribe().await.map_err(to_js)?;
    let mut state = client.watch_state();

    let start = client
        .join("chromium".into())
        .await
        .map_err(|e| to_js(format!("join: {e}")))?;
    let visitor = client.state().await.map_err(to_js)?;
    ensure!(
        visitor.name == "chromium",
        "after join the state is {visitor:?}"
    );
    let changed = state.changed().await.map_err(to_js)?;
    ensure!(
        changed.name == "chromium",
        "the state watcher saw {changed:?}"
    );
    report.push(format!("joined (total {start}); state synced"));

    let total = client
        .bump(5)
        .await
        .map_err(|e| to_js(format!("bump: {e}")))?;
    ensure!(total == start + 5, "bump(5) from {start} returned {total}");
    let event = events.recv().await.map_err(to_js)?;
    ensure!(
        event.payload
            == BoardEvent::Bumped {
                by: "chromium".into(),
                amount: 5,
                total,
            },
        "the event of bump(5) is {event:?}"
    );
    ensure!(
        client.state().await.map_err(to_js)?.bumps == 1,
        "the state did not count the bump"
    );
    report.push("call, event and state change received".into());

    let calls = (0..CONCURRENT_CALLS).map(|_| client.bump(1));
    let mut totals = BTreeSet::new();
    for (i, result) in join_all(calls).await.into_iter().enumerate() {
        let total = result.map_err(|e| to_js(format!("call {i} of {CONCURRENT_CALLS}: {e}")))?;
        totals.insert(total);
    }
    let expected: BTreeSet<i64> = (1..=CONCURRENT_CALLS as i64).map(|n| total + n).collect();
    ensure!(
        totals == expected,
        "{CONCURRENT_CALLS} calls at once returned {} distinct totals, not {}..={}",
        totals.len(),
        total + 1,
        total + CONCURRENT_CALLS as i64
    );
    for n in 1..=CONCURRENT_CALLS as i64 {
        let event = events.recv().await.map_err(to_js)?;
        let BoardEvent::Bumped { total: seen, .. } = event.payload;
        ensure!(
            seen == total + n,
            "event {n} of the concurrent calls has total {seen}, not {}",
            total + n
        );
    }
    let bumps = client.state().await.map_err(to_js)?.bumps;
    ensure!(
        bumps == 1 + CONCURRENT_CALLS as u32,
        "the state counted {bumps} bumps"
    );
    report.push(format!(
        "{CONCURRENT_CALLS} concurrent calls all answered, their events in order"
    ));

    // Views: a list sent as a view built here, which the server sums in place; then the board's
    // latest events, a reply read in place in this page's memory, then deserialized.
    let total = total + CONCURRENT_CALLS as i64;
    let amounts = Archived::new(&vec![7, -3, 10]).map_err(to_js)?;
    let after = client
        .bump_many(amounts)
        .await
        .map_err(|e| to_js(format!("bump_many: {e}")))?;
    ensure!(
        after == total + 14,
        "bump_many([7, -3, 10]) from {total} returned {after}"
    );
    let event = events.recv().await.map_err(to_js)?;
    let summed = BoardEvent::Bumped {
        by: "chromium".into(),
        amount: 14,
        total: after,
    };
    ensure!(
        event.payload == summed,
        "the event of bump_many is {event:?}"
    );
    let recent = client
        .recent(3)
        .await
        .map_err(|e| to_js(format!("recent(3): {e}")))?;
    ensure!(
        recent.len() == 3,
        "recent(3) returned {} events",
        recent.len()
    );
    let ArchivedBoardEvent::Bumped {
        by,
        amount,
        total: newest,
    } = &recent[2];
    ensure!(
        by.as_str() == "chromium" && amount.to_native() == 14 && newest.to_native() == after,
        "the newest of recent(3), read in place, is by {:?}, of {}, to {}",
        by.as_str(),
        amount.to_native(),
        newest.to_native()
    );
    let bumped_by_one = |total| BoardEvent::Bumped {
        by: "chromium".into(),
        amount: 1,
        total,
    };
    let expected = vec![bumped_by_one(total - 1), bumped_by_one(total), summed];
    let owned = recent.deserialize().map_err(to_js)?;
    ensure!(owned == expected, "recent(3) deserialized is {owned:?}");
    let all = client
        .recent(u32::MAX)
        .await
        .map_err(|e| to_js(format!("recent(u32::MAX): {e}")))?;
    ensure!(
        all.len() == RECENT_EVENTS,
        "recent(u32::MAX) returned {} events, not the {RECENT_EVENTS} kept",
        all.len()
    );
    report.push(
        "views: argument read in place on the server, reply read in place in the browser".into(),
    );

    match client.bump(i64::MAX).await {
        Err(CallError::Handler(error)) if error.message().contains("overflow") => {}
        other => return Err(to_js(format!("bump(i64::MAX) gave {other:?}"))),
    }
    let too_much = Archived::new(&vec![i64::MAX, i64::MAX]).map_err(to_js)?;
    match client.bump_many(too_much).await {
        Err(CallError::Handler(error)) if error.message().contains("overflow") => {}
        other => return Err(to_js(format!("bump_many([i64::MAX; 2]) gave {other:?}"))),
    }
    match client.join(String::new()).await {
        Err(CallError::Handler(_)) => {}
        other => return Err(to_js(format!("join(\"\") gave {other:?}"))),
    }
    report.push("handler errors typed".into());

    CLIENT.with(|slot| *slot.borrow_mut() = Some(client));
    Ok(report.join("; "))
}

/// Waits for the server to close the connection `run_checks` made; resolves with the typed error
/// the client reports, and what a call then gets, as `closed: …; call: …`.
#[wasm_bindgen]
pub async fn await_close() -> Result<String, JsValue> {
    let client = CLIENT
        .with(|slot| slot.borrow().clone())
        .ok_or("run_checks has not connected")?;
    let closed = client.closed().await;
    let ClosedError::Ended(RpcError::ConnectionClosed { code, reason, .. }) = &closed else {
        return Err(to_js(format!("the connection ended with {closed:?}")));
    };
    let call = match client.bump(1).await {
        Ok(total) => return Err(to_js(format!("a call after the close returned {total}"))),
        Err(CallError::Rpc(error)) => format!("{error:?}"),
        Err(CallError::Handler(error)) => {
            return Err(to_js(format!("a call after the close ran: {error}")));
        }
    };
    Ok(format!("closed: {code:?} {reason}; call: {call}"))
}

/// Connects a client that reconnects (quickly: 50 ms, doubling up to 500 ms) to the board at `url`
/// and joins as `before`.
#[wasm_bindgen]
pub async fn connect_reconnecting(url: String) -> Result<String, JsValue> {
    let policy = Reconnect::default().delays(Duration::from_millis(50), Duration::from_millis(500));
    let client = BoardClient::new(client_config(&url).reconnect(policy));
    let events = client.connection_events();
    client
        .connect()
        .await
        .map_err(|e| to_js(format!("connect: {e}")))?;
    client
        .join("before".into())
        .await
        .map_err(|e| to_js(format!("join: {e}")))?;
    RECONNECTING.with(|slot| *slot.borrow_mut() = Some((client, events)));
    Ok(format!("connected to {url}"))
}

/// Waits until the client of `connect_reconnecting` has lost its connection and made a new one;
/// checks the new connection's fresh state and a call on it. Resolves with the connection events
/// seen, in order.
#[wasm_bindgen]
pub async fn await_reconnected() -> Result<String, JsValue> {
    let (client, mut events) = RECONNECTING
        .with(|slot| slot.borrow_mut().take())
        .ok_or("connect_reconnecting has not connected")?;
    let mut seen = Vec::new();
    let mut lost = false;
    loop {
        let event = events.recv().await.map_err(to_js)?;
        seen.push(match &event {
            ConnectionEvent::Connected => "Connected".to_owned(),
            ConnectionEvent::Disconnected { code, .. } => format!("Disconnected({code:?})"),
            ConnectionEvent::Reconnecting { attempt, .. } => format!("Reconnecting({attempt})"),
            other => format!("{other:?}"),
        });
        match event {
            ConnectionEvent::Disconnected { .. } => lost = true,
            ConnectionEvent::Connected if lost => break,
            _ => {}
        }
    }
    // The new server knows nothing of the old connection: a fresh snapshot.
    let state = client.state().await.map_err(to_js)?;
    ensure!(
        state.name.is_empty(),
        "the state after reconnecting is {state:?}"
    );
    let total = client
        .join("after".into())
        .await
        .map_err(|e| to_js(format!("join after reconnecting: {e}")))?;
    Ok(format!("{}; joined again (total {total})", seen.join(", ")))
}

/// Connects to the board at `url` and pins `count` notes of `size` bytes, one after the other,
/// each send awaited as an application would; resolves with how many were sent once the last one
/// has been taken. With a server that reads slowly, that is only once most of them have arrived:
/// the client waits for room in the browser's send buffer rather than piling messages into it.
#[wasm_bindgen]
pub async fn pin_notes(url: String, count: u32, size: u32) -> Result<String, JsValue> {
    let client = BoardClient::new(client_config(&url).connect_timeout(Duration::from_secs(10)));
    client
        .connect()
        .await
        .map_err(|e| to_js(format!("connect: {e}")))?;
    let note = "n".repeat(size as usize);
    for i in 0..count {
        client
            .pin(note.clone())
            .await
            .map_err(|e| to_js(format!("note {i} of {count}: {e}")))?;
    }
    CLIENT.with(|slot| *slot.borrow_mut() = Some(client));
    Ok(format!("{count} notes of {size} bytes sent"))
}
