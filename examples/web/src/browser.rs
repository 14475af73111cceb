//! The page's client: joins the board under a random name, shows the total, the visitor's own state
//! and what everyone does, and bumps the total when the button is pressed.

use std::time::Duration;

use hardlight::ClientConfig;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, HtmlElement};

use crate::service::{BoardClient, BoardEvent};

/// How many of the latest events the page lists.
const LOG_LINES: u32 = 12;

/// Connects to the board at `server` (`ws://` or `wss://`), or to the page's own `/rpc` route when
/// it is not given, and runs the page until it is closed.
#[wasm_bindgen]
pub async fn start(server: Option<String>) -> Result<(), JsValue> {
    let document = document()?;
    let url = match server {
        Some(url) => url,
        None => own_route()?,
    };
    let client = BoardClient::new(client_config(&url).connect_timeout(Duration::from_secs(10)));
    show(&document, "status", &format!("connecting to {url}…"));
    client.connect().await.map_err(to_js)?;
    let name = format!("visitor-{:04}", (js_sys::Math::random() * 10_000.0) as u32);
    let mut events = client.subscribe().await.map_err(to_js)?;
    let total = client.join(name.clone()).await.map_err(to_js)?;
    show(&document, "total", &total.to_string());
    show(
        &document,
        "status",
        &format!("connected to {url} as {name}"),
    );

    // What everyone on the board does.
    let page = document.clone();
    spawn_local(async move {
        while let Ok(event) = events.recv().await {
            let BoardEvent::Bumped { by, amount, total } = event.payload;
            show(&page, "total", &total.to_string());
            log(&page, &format!("{by} added {amount}: the total is {total}"));
        }
    });

    // The visitor's own state, as the server changes it.
    let page = document.clone();
    let mut state = client.watch_state();
    spawn_local(async move {
        loop {
            let visitor = state.current();
            show(
                &page,
                "visitor",
                &format!("{} · bumps: {}", visitor.name, visitor.bumps),
            );
            if state.changed().await.is_err() {
                break;
            }
        }
    });

    // The connection's end, with the typed error that says why.
    let page = document.clone();
    let closing = client.clone();
    spawn_local(async move {
        let error = closing.closed().await;
        show(&page, "status", &format!("disconnected: {error}"));
    });

    let button = element(&document, "bump")?;
    let page = document.clone();
    let on_click = Closure::<dyn FnMut()>::new(move || {
        let client = client.clone();
        let page = page.clone();
        spawn_local(async move {
            if let Err(error) = client.bump(1).await {
                log(&page, &format!("bump failed: {error}"));
            }
        });
    });
    button.set_onclick(Some(on_click.as_ref().unchecked_ref()));
    // The page keeps its button as long as it is open.
    on_click.forget();
    button.remove_attribute("disabled")?;
    Ok(())
}

/// TLS for a `wss://` URL (the browser verifies the certificate), plaintext for `ws://`.
pub(crate) fn client_config(url: &str) -> ClientConfig {
    if url.starts_with("wss://") {
        ClientConfig::tls(url)
    } else {
        ClientConfig::plaintext(url)
    }
}

/// The page's own RPC route: `wss://` when the page came over HTTPS.
fn own_route() -> Result<String, JsValue> {
    let location = web_sys::window().ok_or("no window")?.location();
    let scheme = if location.protocol()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Ok(format!("{scheme}://{}/rpc", location.host()?))
}

fn document() -> Result<Document, JsValue> {
    web_sys::window()
        .and_then(|window| window.document())
        .ok_or_else(|| "no document".into())
}

fn element(document: &Document, id: &str) -> Result<HtmlElement, JsValue> {
    document
        .get_element_by_id(id)
        .ok_or_else(|| JsValue::from(format!("the page has no #{id}")))?
        .dyn_into::<HtmlElement>()
        .map_err(|_| format!("#{id} is not an HTML element").into())
}

fn show(document: &Document, id: &str, text: &str) {
    if let Some(element) = document.get_element_by_id(id) {
        element.set_text_content(Some(text));
    }
}

fn log(document: &Document, line: &str) {
    let (Some(list), Ok(item)) = (
        document.get_element_by_id("log"),
        document.create_element("li"),
    ) else {
        return;
    };
    item.set_text_content(Some(line));
    let _ = list.prepend_with_node_1(&item);
    while list.child_element_count() > LOG_LINES {
        if let Some(last) = list.last_element_child() {
            last.remove();
        }
    }
}

pub(crate) fn to_js(error: impl std::fmt::Display) -> JsValue {
    JsValue::from(error.to_string())
}
