//! Zero-copy views (`hardlight::Archived<T>`) over real loopback sockets: as handler arguments, as
//! replies a client receives, as events; owned and archived peers talking to each other (same wire,
//! same fingerprint); validation and the depth bound still enforced for views.
mod common;

use common::{Served, expect_close, method_index, raw_service, send_binary, within};
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{ReplyStatus, ServerFrame, decode_server};
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: u64,
    pub value: u32,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub count: u64,
    pub total: u64,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub seq: u32,
    pub note: String,
}

/// A recursive type, for the depth bound.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    Leaf(u32),
    Node(Vec<Tree>),
}

/// The service declared with views.
pub mod viewing {
    use super::*;

    #[rpc(events = Archived<Tick>)]
    pub trait Lab {
        async fn ingest(&self, batch: Archived<Vec<Sample>>, label: String) -> HandlerResult<u64>;
        async fn echo(&self, data: Archived<Vec<u8>>) -> HandlerResult<Archived<Vec<u8>>>;
        async fn report(&self, name: String, count: u64) -> HandlerResult<Archived<Report>>;
        async fn tick(&self, seq: u32, note: String) -> HandlerResult<()>;
        async fn depth(&self, tree: Archived<Tree>) -> HandlerResult<u32>;
        #[oneway]
        async fn drop_it(&self, data: Archived<Vec<u8>>);
    }

    #[rpc_handler(vis = pub)]
    impl Lab for LabHandler {
        async fn ingest(&self, batch: Archived<Vec<Sample>>, label: String) -> HandlerResult<u64> {
            // Read in place: `batch` derefs to the archived vector.
            let total: u64 = batch.iter().map(|s| u64::from(s.value.to_native())).sum();
            Ok(total + label.len() as u64)
        }

        async fn echo(&self, data: Archived<Vec<u8>>) -> HandlerResult<Archived<Vec<u8>>> {
            Ok(data)
        }

        async fn report(&self, name: String, count: u64) -> HandlerResult<Archived<Report>> {
            Ok(Archived::new(&Report {
                name,
                count,
                total: count * 2,
            })?)
        }

        async fn tick(&self, seq: u32, note: String) -> HandlerResult<()> {
            let topic = Topic::from("ticks");
            self.subscriptions.add(&topic);
            self.events.emit(&topic, Tick { seq, note }).await?;
            Ok(())
        }

        async fn depth(&self, tree: Archived<Tree>) -> HandlerResult<u32> {
            Ok(depth_of(&tree.deserialize()?))
        }

        async fn drop_it(&self, data: Archived<Vec<u8>>) {
            drop(data);
        }
    }
}

/// The same service declared with owned values.
pub mod owning {
    use super::*;

    #[rpc(events = Tick)]
    pub trait Lab {
        async fn ingest(&self, batch: Vec<Sample>, label: String) -> HandlerResult<u64>;
        async fn echo(&self, data: Vec<u8>) -> HandlerResult<Vec<u8>>;
        async fn report(&self, name: String, count: u64) -> HandlerResult<Report>;
        async fn tick(&self, seq: u32, note: String) -> HandlerResult<()>;
        async fn depth(&self, tree: Tree) -> HandlerResult<u32>;
        #[oneway]
        async fn drop_it(&self, data: Vec<u8>);
    }

    #[rpc_handler(vis = pub)]
    impl Lab for LabHandler {
        async fn ingest(&self, batch: Vec<Sample>, label: String) -> HandlerResult<u64> {
            let total: u64 = batch.iter().map(|s| u64::from(s.value)).sum();
            Ok(total + label.len() as u64)
        }

        async fn echo(&self, data: Vec<u8>) -> HandlerResult<Vec<u8>> {
            Ok(data)
        }

        async fn report(&self, name: String, count: u64) -> HandlerResult<Report> {
            Ok(Report {
                name,
                count,
                total: count * 2,
            })
        }

        async fn tick(&self, seq: u32, note: String) -> HandlerResult<()> {
            let topic = Topic::from("ticks");
            self.subscriptions.add(&topic);
            self.events.emit(&topic, Tick { seq, note }).await?;
            Ok(())
        }

        async fn depth(&self, tree: Tree) -> HandlerResult<u32> {
            Ok(depth_of(&tree))
        }

        async fn drop_it(&self, data: Vec<u8>) {
            drop(data);
        }
    }
}

fn depth_of(tree: &Tree) -> u32 {
    match tree {
        Tree::Leaf(_) => 1,
        Tree::Node(children) => 1 + children.iter().map(depth_of).max().unwrap_or(0),
    }
}

fn samples() -> Vec<Sample> {
    (0..1000)
        .map(|i| Sample {
            at: i,
            value: i as u32,
        })
        .collect()
}

async fn view_server() -> Served {
    Served::spawn(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(viewing::LabHandler),
    )
    .await
}

async fn owned_server() -> Served {
    Served::spawn(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(owning::LabHandler),
    )
    .await
}

async fn view_client(served: &Served) -> viewing::LabClient {
    let client = viewing::LabClient::new(served.client_config());
    within("connect", client.connect()).await.expect("connect");
    client
}

async fn owned_client(served: &Served) -> owning::LabClient {
    let client = owning::LabClient::new(served.client_config());
    within("connect", client.connect()).await.expect("connect");
    client
}

const EXPECTED_TOTAL: u64 = 999 * 1000 / 2 + 5;

#[test]
fn owned_and_archived_forms_have_one_fingerprint() {
    assert_eq!(
        hardlight::fingerprint::<dyn viewing::Lab>(),
        hardlight::fingerprint::<dyn owning::Lab>()
    );
    assert_eq!(
        hardlight::schema::<dyn viewing::Lab>(),
        hardlight::schema::<dyn owning::Lab>()
    );
}

#[tokio::test]
async fn a_view_server_with_a_view_client() {
    let served = view_server().await;
    let client = view_client(&served).await;
    let batch = Archived::new(&samples()).expect("encode");
    let total = within("ingest", client.ingest(batch.clone(), "hello".into()))
        .await
        .expect("ingest");
    assert_eq!(total, EXPECTED_TOTAL);
    // The same pre-encoded view, sent again (encode once, send to many).
    let again = within("ingest", client.ingest(batch, "hello".into()))
        .await
        .expect("ingest");
    assert_eq!(again, EXPECTED_TOTAL);

    let data = vec![9u8; 100_000];
    let echoed: Archived<Vec<u8>> =
        within("echo", client.echo(Archived::new(&data).expect("encode")))
            .await
            .expect("echo");
    assert_eq!(echoed, data);
    assert_eq!(echoed.deserialize().expect("deserialize"), data);
    // The view shares the received message: the archive lies in its buffer, frame header before it.
    assert!(echoed.buffer().len() > data.len());
    assert_eq!(
        echoed.archive_bytes().expect("a whole reply").len(),
        data.len() + 8
    );

    let report = within("report", client.report("r".into(), 21))
        .await
        .expect("report");
    assert_eq!(report.name, "r");
    assert_eq!(report.count, 21);
    assert_eq!(
        report.deserialize().expect("deserialize"),
        Report {
            name: "r".into(),
            count: 21,
            total: 42
        }
    );
    let copy = report.clone();
    assert_eq!(copy.total, report.total);
    assert!(format!("{report:?}").contains("Report"), "{report:?}");

    within(
        "drop_it",
        client.drop_it(Archived::new(&vec![1u8]).expect("encode")),
    )
    .await
    .expect("one-way");
}

#[tokio::test]
async fn events_arrive_as_views() {
    let served = view_server().await;
    let client = view_client(&served).await;
    let mut events = within("subscribe", client.subscribe())
        .await
        .expect("subscribe");
    within("tick", client.tick(7, "seven".into()))
        .await
        .expect("tick");
    let event = within("an event", events.recv()).await.expect("event");
    assert_eq!(event.topic, Topic::from("ticks"));
    let tick: &Archived<Tick> = &event.payload;
    assert_eq!(tick.seq, 7);
    assert_eq!(tick.note, "seven");
    assert_eq!(
        tick.deserialize().expect("deserialize"),
        Tick {
            seq: 7,
            note: "seven".into()
        }
    );
}

/// A deterministic payload, different per `seed`.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7) % 251) as u8)
        .collect()
}

/// Sizes around the point where the server writes a reply straight to the socket (16 KiB),
/// up to 1 MiB.
const SIZES: [usize; 7] = [100, 16_383, 16_384, 16_385, 65_536, 300_000, 1 << 20];

/// Large replies (a view echoed as it came, or an owned vector re-encoded) interleave with small
/// replies and events on one connection: every reply is whole and its own, and events keep
/// their order and arrive before the reply of the call that emitted them. Over plaintext, TLS
/// and TLS with compression.
#[tokio::test]
async fn large_replies_interleave_with_small_calls_and_events() {
    let transports = [
        ("plaintext", false, false),
        ("tls", true, false),
        ("tls+deflate", true, true),
    ];
    for (transport, tls, deflate) in transports {
        for views in [true, false] {
            let what = format!(
                "{transport}, {} server",
                if views { "view" } else { "owned" }
            );
            let config = if tls {
                ServerConfig::new_self_signed("127.0.0.1:0")
            } else {
                ServerConfig::plaintext("127.0.0.1:0")
            }
            .allow_compression(deflate);
            let served = if views {
                Served::spawn(config, factory!(viewing::LabHandler)).await
            } else {
                Served::spawn(config, factory!(owning::LabHandler)).await
            };
            let compression = if deflate {
                Compression::default()
            } else {
                Compression::none()
            };
            let client = viewing::LabClient::new(served.client_config().compression(compression));
            within("connect", client.connect()).await.expect("connect");
            let mut events = within("subscribe", client.subscribe())
                .await
                .expect("subscribe");

            const CALLS: usize = 28;
            let echoes = futures_util::future::join_all((0..CALLS).map(|i| {
                let (client, what) = (&client, &what);
                async move {
                    let sent = pattern(SIZES[i % SIZES.len()], i);
                    let echoed = client
                        .echo(Archived::new(&sent).expect("encode"))
                        .await
                        .expect("echo");
                    assert!(echoed[..] == sent[..], "{what}: echo {i} came back changed");
                }
            }));
            let small = async {
                for seq in 0..CALLS as u32 {
                    client.tick(seq, format!("t{seq}")).await.expect("tick");
                    // The event went out before the reply, so it is here already.
                    let event = events
                        .try_recv()
                        .expect("the event before the reply")
                        .expect("an event");
                    assert_eq!(event.payload.seq, seq, "{what}");
                    let report = client.report("r".into(), seq.into()).await.expect("report");
                    assert_eq!(report.total, u64::from(seq) * 2, "{what}");
                }
            };
            within(&what, futures_util::future::join(echoes, small)).await;
        }
    }
}

#[tokio::test]
async fn an_owned_client_talks_to_a_view_server() {
    let served = view_server().await;
    let client = owned_client(&served).await;
    let total = within("ingest", client.ingest(samples(), "hello".into()))
        .await
        .expect("ingest");
    assert_eq!(total, EXPECTED_TOTAL);
    let data = vec![3u8; 70_000];
    assert_eq!(
        within("echo", client.echo(data.clone()))
            .await
            .expect("echo"),
        data
    );
    let report = within("report", client.report("x".into(), 2))
        .await
        .expect("report");
    assert_eq!(report.total, 4);
    let mut events = within("subscribe", client.subscribe())
        .await
        .expect("subscribe");
    within("tick", client.tick(1, "one".into()))
        .await
        .expect("tick");
    let event = within("an event", events.recv()).await.expect("event");
    assert_eq!(
        event.payload,
        Tick {
            seq: 1,
            note: "one".into()
        }
    );
}

#[tokio::test]
async fn a_view_client_talks_to_an_owned_server() {
    let served = owned_server().await;
    let client = view_client(&served).await;
    let total = within(
        "ingest",
        client.ingest(Archived::new(&samples()).expect("encode"), "hello".into()),
    )
    .await
    .expect("ingest");
    assert_eq!(total, EXPECTED_TOTAL);
    let data = vec![5u8; 70_000];
    let echoed = within("echo", client.echo(Archived::new(&data).expect("encode")))
        .await
        .expect("echo");
    assert_eq!(echoed, data);
    let report = within("report", client.report("y".into(), 3))
        .await
        .expect("report");
    assert_eq!(report.total, 6);
    let mut events = within("subscribe", client.subscribe())
        .await
        .expect("subscribe");
    within("tick", client.tick(2, "two".into()))
        .await
        .expect("tick");
    let event = within("an event", events.recv()).await.expect("event");
    assert_eq!(event.payload.seq, 2);
}

/// A view encoded from a borrowed slice is the same archive as one of the vector, and is sent
/// from data the caller keeps (no `Vec` is built) to a server declaring the owned type.
#[tokio::test]
async fn a_view_encoded_from_a_slice_is_the_vectors_archive() {
    let samples = samples();
    let from_slice = Archived::<Vec<Sample>>::from_slice(&samples).expect("encode the slice");
    let from_vec = Archived::new(&samples).expect("encode the vector");
    assert_eq!(from_slice.archive_bytes(), from_vec.archive_bytes());
    assert_eq!(from_slice.deserialize().expect("deserialize"), samples);
    let bytes = [7u8; 3000];
    let served = owned_server().await;
    let client = view_client(&served).await;
    let total = within("ingest", client.ingest(from_slice, "hello".into()))
        .await
        .expect("ingest");
    assert_eq!(total, EXPECTED_TOTAL);
    let view = Archived::<Vec<u8>>::from_slice(&bytes[..1000]).expect("encode");
    let echoed = within("echo", client.echo(view)).await.expect("echo");
    assert_eq!(echoed.as_slice(), &bytes[..1000]);
}

/// A received view forwarded as an argument: its archive is sent as it arrived.
#[tokio::test]
async fn a_received_view_is_forwarded_as_it_is() {
    let served = view_server().await;
    let client = view_client(&served).await;
    let data = vec![1u8, 2, 3, 4];
    let first = within("echo", client.echo(Archived::new(&data).expect("encode")))
        .await
        .expect("echo");
    let second = within("echo", client.echo(first.clone()))
        .await
        .expect("echo");
    assert_eq!(first, second);
    assert_eq!(second, data);
}

const INGEST: u16 = method_index(
    <dyn viewing::Lab as hardlight::__private::ServiceSchema>::METHODS,
    "ingest",
);
const DEPTH: u16 = method_index(
    <dyn viewing::Lab as hardlight::__private::ServiceSchema>::METHODS,
    "depth",
);
const DROP_IT: u16 = method_index(
    <dyn viewing::Lab as hardlight::__private::ServiceSchema>::METHODS,
    "drop_it",
);

fn call_frame(method: u16, args: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x01, 0x00];
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(&method.to_le_bytes());
    frame.extend_from_slice(args);
    frame
}

async fn next_reply(ws: &mut common::RawPeer) -> (ReplyStatus, String) {
    loop {
        match within("a reply", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerFrame::Reply { status, body, .. }) = decode_server(&bytes) {
                    return (status, String::from_utf8_lossy(body).into_owned());
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn hostile_archives_for_views_are_refused() {
    let served = view_server().await;
    let fingerprint = hardlight::fingerprint::<dyn viewing::Lab>();
    let mut ws = raw_service(served.port, fingerprint, None).await.0;
    // A vector whose (offset, length) points far outside the message.
    let mut hostile = (vec![Sample { at: 1, value: 2 }], String::from("x"))
        .encode()
        .unwrap();
    let header_at = hostile.len() - 16;
    hostile[header_at + 4..header_at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    send_binary(&mut ws, call_frame(INGEST, &hostile)).await;
    let (status, text) = next_reply(&mut ws).await;
    assert_eq!(status, ReplyStatus::BadArguments, "{text}");

    // The depth bound applies to views: 200 levels, over the default of 128.
    let mut tree = Tree::Leaf(1);
    for _ in 0..200 {
        tree = Tree::Node(vec![tree]);
    }
    let deep = (tree,).encode().unwrap();
    send_binary(&mut ws, call_frame(DEPTH, &deep)).await;
    let (status, text) = next_reply(&mut ws).await;
    assert_eq!(status, ReplyStatus::BadArguments, "{text}");
    assert!(text.contains("nested deeper than"), "{text}");

    // Within the bound, the same connection goes on.
    let shallow = (Tree::Node(vec![Tree::Leaf(3)]),).encode().unwrap();
    send_binary(&mut ws, call_frame(DEPTH, &shallow)).await;
    let (status, text) = next_reply(&mut ws).await;
    assert_eq!(status, ReplyStatus::Ok, "{text}");

    // A one-way message with a bad view argument closes the connection (1007), as owned ones do.
    let mut frame = vec![0x03, 0x00];
    frame.extend_from_slice(&DROP_IT.to_le_bytes());
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f]);
    send_binary(&mut ws, frame).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1007, "{reason}");
}

#[test]
fn views_validate_and_round_trip() {
    let value = Report {
        name: "a name long enough to be out of line".into(),
        count: 3,
        total: 9,
    };
    let view = Archived::new(&value).unwrap();
    assert_eq!(view.deserialize().unwrap(), value);
    let bytes = bytes::Bytes::from(value.encode().unwrap());
    let again = Archived::<Report>::from_bytes(bytes.clone()).unwrap();
    assert_eq!(again.deserialize().unwrap(), value);
    assert!(Archived::<Report>::from_bytes(bytes.slice(..bytes.len() - 1)).is_err());
    let nested = vec![vec![vec![7u8]]];
    let bytes = bytes::Bytes::from(nested.encode().unwrap());
    assert!(Archived::<Vec<Vec<Vec<u8>>>>::from_bytes_within(bytes.clone(), 4).is_ok());
    assert!(matches!(
        Archived::<Vec<Vec<Vec<u8>>>>::from_bytes_within(bytes, 3),
        Err(hardlight::wire::DecodeError::TooDeep { max_depth: 3 })
    ));
}
