//! What the browser test (`tests/browser.rs`) runs inside Chromium, against a native server: the
//! client's whole API over the browser's WebSocket. Each check fails with what it saw.
//!
//! `run_checks(url)` connects and exercises calls, state, events, handler errors, 300 calls at once
//! (more than the 256 in flight a connection allows: the rest must wait, not fail), zero-copy views
//! both ways (an argument the server reads in place, a reply read in place here) and streams (a
//! countdown past the client's credit window, each item after its state change; a refused one; 300
//! dropped early, each cancelled, the connection going on; a bidirectional `shout`; a byte stream
//! written and read back at once); it keeps the client, and
//! `await_close()` then reports the typed error it gets when the server closes.
//! `connect_reconnecting(url)` connects a client that reconnects, and `await_reconnected()` reports
//! what it went through once the server is back. `pin_notes(url, count, size)` sends many large
//! one-way messages, for a server that reads them slowly.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, join, join_all, select};
use hardlight::{
    Archived, CallError, ClosedError, ConnectionEvent, ConnectionEvents, Metadata, Reconnect,
    RpcError, Streaming, TraceParent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::browser::{client_config, to_js};
use crate::service::{ArchivedBoardEvent, BoardClient, BoardEvent, MAX_COUNTDOWN, RECENT_EVENTS};

/// More calls than one connection has in flight at once.
const CONCURRENT_CALLS: usize = 300;

/// The countdown read to its end: its steps weigh more than the [`STREAM_WINDOW`] the client grants
/// at first (a step from `n` carries `n` bytes of bar: about 500 KB in all).
const COUNTDOWN: u32 = MAX_COUNTDOWN;

/// The credit a stream starts with: hardlight's client grants 256 KiB of items, then again as they
/// are read.
const STREAM_WINDOW: usize = 256 * 1024;

/// Streams dropped early, one after the other: more than one connection has in flight at once, so
/// that a dropped stream that kept its slot would make a later call wait.
const DROPPED_STREAMS: u32 = 300;

/// The deadline of each streaming call (and of the call after the dropped ones): a stream that
/// stalls fails, with the server's timeout, instead of hanging the page.
const STREAM_PATIENCE: Duration = Duration::from_secs(30);

/// The lines `shout` sends, one at a time.
const SHOUTED_LINES: [&str; 3] = ["hello", "from the browser", "bye"];

/// The bytes `mirror` sends and reads back: more than the 256 KiB window of each direction.
const MIRRORED_BYTES: usize = 600_000;

/// The trace context the page passes on to its calls, as a W3C `traceparent`.
const PAGE_TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

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

    // Streams: a countdown heavier than the credit the client grants at first (256 KiB), so that
    // it goes on only if credit is granted again as its items are read; each item counted in the
    // state before it was sent, which the mirror must show when the item arrives.
    let patient = client.with_timeout(STREAM_PATIENCE);
    let before = client.state().await.map_err(to_js)?.counted;
    let mut countdown = patient
        .countdown(COUNTDOWN)
        .await
        .map_err(|e| to_js(format!("countdown({COUNTDOWN}): {e}")))?;
    let mut read = 0;
    let mut weight = 0;
    while let Some(item) = countdown.next().await {
        let step =
            item.map_err(|e| to_js(format!("countdown({COUNTDOWN}) after {read} items: {e}")))?;
        read += 1;
        ensure!(
            step.left == COUNTDOWN + 1 - read && step.bar == "#".repeat(step.left as usize),
            "item {read} of countdown({COUNTDOWN}) is {step:?}"
        );
        weight += step.bar.len();
        let counted = client.state().await.map_err(to_js)?.counted - before;
        ensure!(
            counted >= read,
            "item {read} of countdown({COUNTDOWN}) arrived before its state change (counted {counted})"
        );
    }
    ensure!(
        read == COUNTDOWN,
        "countdown({COUNTDOWN}) ended after {read} items"
    );
    let counted = client.state().await.map_err(to_js)?.counted - before;
    ensure!(
        counted == COUNTDOWN,
        "countdown({COUNTDOWN}) counted {counted} items in the state"
    );
    ensure!(
        weight > STREAM_WINDOW,
        "countdown({COUNTDOWN}) weighed {weight} bytes, not past the window"
    );
    report.push(format!(
        "stream: {COUNTDOWN} items in order past the credit of 256 KiB ({} KB of bars), each after its state change",
        weight / 1000
    ));

    for from in [0, MAX_COUNTDOWN + 1] {
        match patient.countdown(from).await {
            Err(CallError::Handler(error)) if error.message().contains("count down from 1") => {}
            other => return Err(to_js(format!("countdown({from}) gave {other:?}"))),
        }
    }
    report.push("stream refused with a typed handler error".into());

    // More streams than the connection has slots, each dropped after three items, without a
    // deadline (the server would end them at theirs, freeing their slots): each must be cancelled
    // (the server answers the cancel, which frees its slot), or the 257th waits for a slot.
    for i in 0..DROPPED_STREAMS {
        let what = format!("stream {i} of {DROPPED_STREAMS} to drop");
        let waiting = format!("{what}, waiting for the slot of one dropped before");
        let opened = within(STREAM_PATIENCE, &waiting, client.countdown(MAX_COUNTDOWN)).await?;
        let mut countdown = opened.map_err(|e| to_js(format!("{what}: {e}")))?;
        for expected in [MAX_COUNTDOWN, MAX_COUNTDOWN - 1, MAX_COUNTDOWN - 2] {
            match within(STREAM_PATIENCE, &what, countdown.next()).await? {
                Some(Ok(step)) if step.left == expected => {}
                other => {
                    return Err(to_js(format!("{what} gave {other:?}, not {expected}")));
                }
            }
        }
        drop(countdown);
    }
    let newest = patient
        .recent(1)
        .await
        .map_err(|e| to_js(format!("a call after the dropped streams: {e}")))?;
    ensure!(
        newest.len() == 1,
        "recent(1) after the dropped streams returned {} events",
        newest.len()
    );
    let mut short = patient
        .countdown(3)
        .await
        .map_err(|e| to_js(format!("countdown(3) after the dropped streams: {e}")))?;
    let mut items = Vec::new();
    while let Some(item) = short.next().await {
        let step =
            item.map_err(|e| to_js(format!("countdown(3) after the dropped streams: {e}")))?;
        items.push(step.left);
    }
    ensure!(
        items == [3, 2, 1],
        "countdown(3) after the dropped streams gave {items:?}"
    );
    report.push(format!(
        "{DROPPED_STREAMS} streams dropped early, each cancelled; the connection goes on"
    ));

    // Bidirectional: each line goes up and its reply comes back before the next is sent, so both
    // directions run at once; the end of the lines ends the replies.
    let (lines, receiver) = tokio::sync::mpsc::channel(1);
    let mut shouted = patient
        .shout(Streaming::from_receiver(receiver))
        .await
        .map_err(|e| to_js(format!("shout: {e}")))?;
    for line in SHOUTED_LINES {
        lines
            .send(line.to_owned())
            .await
            .map_err(|_| to_js(format!("shout: the line {line:?} could not be sent")))?;
        match within(STREAM_PATIENCE, "shout's reply", shouted.next()).await? {
            Some(Ok(reply)) if reply == line.to_uppercase() => {}
            other => return Err(to_js(format!("shout({line:?}) gave {other:?}"))),
        }
    }
    drop(lines);
    match within(STREAM_PATIENCE, "shout's end", shouted.next()).await? {
        None => {}
        other => return Err(to_js(format!("shout after its last line gave {other:?}"))),
    }
    report.push(format!(
        "bidirectional: {} lines shouted back, each before the next was sent",
        SHOUTED_LINES.len()
    ));

    // A byte stream: more bytes than either direction's credit, written and read at once.
    let mirror = patient
        .mirror()
        .await
        .map_err(|e| to_js(format!("mirror: {e}")))?;
    let sent: Vec<u8> = (0..MIRRORED_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    let (mut reader, mut writer) = tokio::io::split(mirror);
    let writing = async {
        writer.write_all(&sent).await?;
        writer.shutdown().await
    };
    let reading = async {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.map(|_| back)
    };
    let (written, back) = within(
        STREAM_PATIENCE,
        "the mirrored bytes",
        join(writing, reading),
    )
    .await?;
    written.map_err(|e| to_js(format!("mirror: writing failed: {e}")))?;
    let back = back.map_err(|e| to_js(format!("mirror: reading failed: {e}")))?;
    ensure!(
        back == sent,
        "mirror gave back {} bytes, not the {} written",
        back.len(),
        sent.len()
    );
    report.push(format!(
        "byte stream: {} KB written and read back at once",
        MIRRORED_BYTES / 1000
    ));

    // Trace context and metadata travel with a call from the browser too.
    let parent = TraceParent::parse(PAGE_TRACE).ok_or_else(|| to_js("PAGE_TRACE is invalid"))?;
    let tag = Metadata::new().with("page", "checks").map_err(to_js)?;
    let carried = client
        .with_trace_parent(parent)
        .with_metadata(tag)
        .carried()
        .await
        .map_err(to_js)?;
    ensure!(
        carried == (Some(PAGE_TRACE.to_owned()), Some("checks".to_owned())),
        "a traced and tagged call carried {carried:?}"
    );
    let plain = client.carried().await.map_err(to_js)?;
    ensure!(plain == (None, None), "a plain call carried {plain:?}");
    report.push("trace context and metadata reached the handler".into());

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

/// What `future` gives, or an error saying that `what` did not happen within `patience`: a deadline
/// kept by the page, for a wait without one of the client's.
async fn within<T>(
    patience: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> Result<T, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let millis = i32::try_from(patience.as_millis()).unwrap_or(i32::MAX);
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        // A page's timer is refused only for an invalid callback, which `resolve` is not.
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
    });
    match select(pin!(future), JsFuture::from(timer)).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(_) => Err(to_js(format!("{what}: nothing within {patience:?}"))),
    }
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
