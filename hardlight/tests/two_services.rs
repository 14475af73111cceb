//! Two `#[rpc]` services declared in one module compile and serve side by side: no generated name
//! clashes, each with its own state, handler and client.
mod common;

use common::within;
use hardlight::*;

#[rpc(state = AlphaState)]
trait Alpha {
    async fn hello(&self, name: String) -> HandlerResult<String>;
}

#[rpc(state = BetaState)]
trait Beta {
    async fn hello(&self, times: u32) -> HandlerResult<u32>;
}

#[connection_state]
struct AlphaState {
    greeted: Vec<String>,
}

#[connection_state]
struct BetaState {
    total: u64,
}

#[rpc_handler]
impl Alpha for AlphaHandler {
    async fn hello(&self, name: String) -> HandlerResult<String> {
        self.state.write().await.greeted.push(name.clone());
        Ok(format!("hello, {name}"))
    }
}

#[rpc_handler]
impl Beta for BetaHandler {
    async fn hello(&self, times: u32) -> HandlerResult<u32> {
        self.state.write().await.total += u64::from(times);
        Ok(times * 2)
    }
}

async fn serve<H: hardlight::server::Handler>(factory: Factory<H>) -> (String, CertFingerprint) {
    let config = ServerConfig::new_self_signed("127.0.0.1:0");
    let fingerprint = config.tls().unwrap().fingerprint();
    let bound = Server::new(config, factory).bind().await.unwrap();
    let address = format!("localhost:{}", bound.local_addr().unwrap().port());
    tokio::spawn(bound.run());
    (address, fingerprint)
}

#[tokio::test]
async fn two_services_in_one_module_work_side_by_side() {
    let (alpha_addr, alpha_fp) = serve(factory!(AlphaHandler)).await;
    let (beta_addr, beta_fp) = serve(factory!(BetaHandler)).await;

    let alpha = AlphaClient::new(ClientConfig::pinned(alpha_addr.clone(), alpha_fp));
    let beta = BetaClient::new(ClientConfig::pinned(beta_addr.clone(), beta_fp));
    within("alpha connect", alpha.connect()).await.unwrap();
    within("beta connect", beta.connect()).await.unwrap();

    assert_eq!(alpha.hello("ada".into()).await.unwrap(), "hello, ada");
    assert_eq!(beta.hello(21).await.unwrap(), 42);
    assert_eq!(alpha.state().await.unwrap().greeted, vec!["ada".to_owned()]);
    assert_eq!(beta.state().await.unwrap().total, 21);

    // Different schemas: each server refuses the other's client.
    let crossed = AlphaClient::new(ClientConfig::pinned(beta_addr, beta_fp));
    assert!(matches!(
        within("refused connect", crossed.connect()).await,
        Err(ConnectError::HandshakeRefused { .. })
    ));
}
