//! TLS for hardlight connections, on rustls with the `ring` provider.
//!
//! The server side is described by [`ServerTls`]: either a certificate you already have (from PEM or
//! DER), or a fresh self-signed certificate for local development ([`ServerTls::self_signed`]).
//!
//! The client side chooses how to trust the server with [`ServerTrust`]:
//!
//! * [`ServerTrust::Roots`] is ordinary WebPKI verification: the chain must lead to one of the given
//!   roots and the certificate must name the host being dialled. Use it in production, with a
//!   certificate from a real CA or from your own private CA.
//! * [`ServerTrust::Pinned`] trusts exactly one certificate, identified by its SHA-256
//!   [`CertFingerprint`]. Names, chains and expiry are not checked, so it suits self-signed
//!   certificates whose fingerprint reached the client out of band (printed by the server, written in
//!   a config file). Rotating the certificate means distributing the new fingerprint.
//! * [`ServerTrust::AcceptAnyDangerous`] accepts whatever certificate the server presents. Traffic is
//!   encrypted, but anyone on the path can impersonate the server (and read an auth token), so use it
//!   only against a local development server. Building a connector with it prints
//!   [`UNVERIFIED_WARNING`] on stderr, whether or not a tracing subscriber is installed (once per
//!   process in a debug build, for every connection in a release build), and logs a `tracing`
//!   warning.
//!
//! In every mode the server's handshake signature is still verified, so the peer must hold the
//! private key of the certificate it presents; the modes differ only in which certificates they accept.
//!
//! Configurations are always built with [`rustls::crypto::ring::default_provider`] rather than the
//! process-wide default provider, so this module works whether or not (and whichever) provider the
//! application installs. Both sides offer TLS 1.2 and 1.3 and the ALPN protocol `http/1.1`, which is
//! what the WebSocket upgrade runs over.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring as ring_provider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The only application protocol spoken over these connections: the WebSocket upgrade is HTTP/1.1.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// How long a generated development certificate stays valid. Kept under the 398 days that some
/// platforms (Apple's, browsers) enforce even for locally trusted certificates.
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How far a generated certificate's validity is backdated, to tolerate client clocks running behind.
const SELF_SIGNED_BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);

/// Errors of the TLS layer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A fingerprint string was not 64 hex digits (optionally colon-separated between bytes).
    #[error("invalid certificate fingerprint: expected 64 hex digits (optionally colon-separated)")]
    BadFingerprint,
    /// rcgen could not produce a self-signed certificate (typically an invalid name).
    #[error("could not generate a self-signed certificate: {0}")]
    Generate(String),
    /// PEM input was malformed.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// PEM input held no `CERTIFICATE` section.
    #[error("no certificate found in PEM input")]
    NoCertificate,
    /// PEM input held no PKCS#8, PKCS#1 or SEC1 private key.
    #[error("no private key found in PEM input")]
    NoPrivateKey,
    /// rustls refused the configuration (bad key, key not matching the certificate, bad root, ...).
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
    /// A host could be used neither as a DNS name nor as an IP address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// The TLS handshake failed: the server's certificate is not one the client trusts, the peer
    /// sent an alert, or it does not speak TLS as configured.
    #[error("TLS handshake failed")]
    Handshake(#[source] rustls::Error),
}

/// SHA-256 of a certificate's DER bytes: the identity used by [`ServerTrust::Pinned`].
///
/// Displays as 64 lowercase hex digits. Parses from 64 hex digits in either case, optionally with a
/// `:` between every byte as `openssl x509 -fingerprint -sha256` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint([u8; 32]);

impl CertFingerprint {
    /// Fingerprint of a DER-encoded certificate.
    pub fn of(cert_der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert_der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// The raw 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares without exiting early, so response timing does not reveal how much of a guessed
    /// fingerprint was right.
    fn matches(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

impl FromStr for CertFingerprint {
    type Err = TlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Trimmed because fingerprints are usually pasted or read from files with a trailing newline.
        let s = s.trim().as_bytes();
        let pair_at = |i: usize| -> Option<&[u8]> {
            match s.len() {
                64 => s.get(2 * i..2 * i + 2),
                // "AB:CD:...": 32 pairs joined by 31 colons; the colon before each pair must be there.
                95 if i == 0 || s.get(3 * i - 1) == Some(&b':') => s.get(3 * i..3 * i + 2),
                _ => None,
            }
        };
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = pair_at(i).ok_or(TlsError::BadFingerprint)?;
            *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(Self(bytes))
    }
}

fn hex_digit(c: u8) -> Result<u8, TlsError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(TlsError::BadFingerprint),
    }
}

/// TLS material of a server: its rustls configuration and the leaf certificate it presents.
///
/// Cheap to clone (the configuration is shared).
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    leaf: CertificateDer<'static>,
    fingerprint: CertFingerprint,
}

impl ServerTls {
    /// A fresh self-signed certificate for local development, valid for a year.
    ///
    /// Subject alternative names: each of `names` (one that parses as an IP address, bracketed IPv6
    /// included, becomes an IP SAN), plus `localhost`, `127.0.0.1` and `::1` always. Clients trust it
    /// through [`ServerTrust::Pinned`] with [`fingerprint`](Self::fingerprint), through
    /// [`ServerTrust::Roots`] with [`certificate_pem`](Self::certificate_pem) as the root, or, for
    /// throwaway setups, through [`ServerTrust::AcceptAnyDangerous`].
    pub fn self_signed<I, S>(names: I) -> Result<Self, TlsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut sans: Vec<String> = Vec::new();
        let always = ["localhost", "127.0.0.1", "::1"].map(String::from);
        for name in names.into_iter().map(Into::into).chain(always) {
            // rcgen recognises bare IP literals itself; only the URL-style "[::1]" needs unwrapping.
            let name = match parse_ip(&name) {
                Some(ip) => ip.to_string(),
                None => name,
            };
            if !sans.contains(&name) {
                sans.push(name);
            }
        }

        let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let mut params = rcgen::CertificateParams::new(sans).map_err(generate)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "hardlight self-signed development certificate",
        );
        // Platforms that let users trust a certificate still insist on a server-auth EKU and a
        // bounded validity; rcgen's defaults (no EKU, valid until 4096) would be refused.
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| TlsError::Generate(format!("system clock before 1970: {e}")))?;
        // Dates are built by offsetting rcgen's epoch so the `time` crate need not be a dependency.
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        params.not_before = epoch + now.saturating_sub(SELF_SIGNED_BACKDATE);
        params.not_after = epoch + now + SELF_SIGNED_VALIDITY;

        let key_pair = rcgen::KeyPair::generate().map_err(generate)?;
        let cert = params.self_signed(&key_pair).map_err(generate)?;
        let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        Self::from_der(vec![cert.der().clone()], key.into())
    }

    /// From PEM text: the certificate chain (leaf first) and the private key (PKCS#8, PKCS#1 or
    /// SEC1; the first key found is used).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_error)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            pem::Error::NoItemsFound => TlsError::NoPrivateKey,
            e => pem_error(e),
        })?;
        Self::from_der(chain, key)
    }

    /// From DER: the certificate chain (leaf first) and the private key. Fails if the key does not
    /// belong to the leaf certificate.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let leaf = chain.first().ok_or(TlsError::NoCertificate)?.clone();
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Self {
            config: Arc::new(config),
            fingerprint: CertFingerprint::of(&leaf),
            leaf,
        })
    }

    /// The leaf certificate, DER-encoded.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.leaf
    }

    /// The leaf certificate, PEM-encoded: what a browser, an OS trust store or
    /// [`ServerTrust::roots_from_pem`] can be given to trust a self-signed server.
    pub fn certificate_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.leaf)
    }

    /// SHA-256 fingerprint of the leaf certificate, for [`ServerTrust::Pinned`].
    pub fn fingerprint(&self) -> CertFingerprint {
        self.fingerprint
    }

    /// An acceptor performing the server side of the handshake with this material.
    #[doc(hidden)]
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The rustls config is long and says nothing useful; the fingerprint identifies the server.
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// How a client decides to trust the server's certificate. See the [module docs](self) for when to
/// use each mode.
#[derive(Clone)]
#[non_exhaustive]
pub enum ServerTrust {
    /// Development only: accept any certificate, such as a server's self-signed development
    /// certificate. Encrypts but does not authenticate the server. Prints [`UNVERIFIED_WARNING`] on
    /// stderr (once per process in a debug build, each time in a release build) and logs a warning
    /// whenever a connector is built with it. Prefer [`ServerTrust::Pinned`].
    AcceptAnyDangerous,
    /// Trust exactly one certificate, identified by its SHA-256 fingerprint. The names, chain and
    /// validity dates in the certificate are not checked; handshake signatures are.
    Pinned(CertFingerprint),
    /// Normal WebPKI verification (chain, validity and hostname) against these roots.
    Roots(Arc<RootCertStore>),
}

impl ServerTrust {
    /// [`ServerTrust::Roots`] from PEM text holding one or more CA certificates (or a self-signed
    /// server certificate, which then acts as its own root).
    pub fn roots_from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            store.add(cert.map_err(pem_error)?)?;
        }
        if store.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        Ok(Self::Roots(Arc::new(store)))
    }

    /// Builds a connector for this trust mode. Building it is not free (a fresh rustls config), so
    /// build once and reuse it for every connection.
    pub fn connector(&self) -> Result<TlsConnector, TlsError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = match self {
            Self::Roots(roots) => {
                // An empty store can never verify anything; failing here beats failing per connection.
                if roots.is_empty() {
                    return Err(
                        rustls::Error::General("root certificate store is empty".into()).into(),
                    );
                }
                builder.with_root_certificates(Arc::clone(roots))
            }
            Self::Pinned(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(FingerprintVerifier {
                    accept: Accept::Pinned(*pin),
                    provider,
                })),
            Self::AcceptAnyDangerous => {
                warn_unverified();
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(FingerprintVerifier {
                        accept: Accept::Any,
                        provider,
                    }))
            }
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

impl fmt::Debug for ServerTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AcceptAnyDangerous => f.write_str("AcceptAnyDangerous"),
            Self::Pinned(pin) => f.debug_tuple("Pinned").field(pin).finish(),
            Self::Roots(roots) => write!(f, "Roots({} certificates)", roots.len()),
        }
    }
}

/// What a client that does not verify the server's certificate prints on stderr.
pub const UNVERIFIED_WARNING: &str = "\
hardlight WARNING: TLS server certificate verification is DISABLED
  (ClientConfig::new_self_signed, a generated client's new_self_signed, or ServerTrust::AcceptAnyDangerous).
  The connection is encrypted, but anyone on the path can impersonate the server and read all that
  is sent, auth tokens included. Use it only against a local development server. To trust exactly
  your server, pin its certificate: ClientConfig::pinned(address, fingerprint), with the SHA-256
  fingerprint the server prints (ServerTls::fingerprint).";

/// Says loudly that a connection will not verify the server's certificate.
///
/// On stderr, whether or not the application installed a tracing subscriber, so that a build that
/// trusts any certificate cannot go unnoticed; and through `tracing` as a warning, each time. A debug
/// build prints it once per process (the dev demo stays readable); a release build, where it is most
/// likely a mistake, for every connection.
fn warn_unverified() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    tracing::warn!(
        "TLS server certificate verification is DISABLED (ServerTrust::AcceptAnyDangerous): \
         connections are encrypted but the server is not authenticated; \
         use only for local development, or pin the certificate (ClientConfig::pinned)"
    );
    if cfg!(debug_assertions) {
        ONCE.call_once(|| eprintln!("{UNVERIFIED_WARNING}"));
    } else {
        eprintln!(
            "{UNVERIFIED_WARNING}\n  This is a release build: this warning is printed for every \
             connection."
        );
    }
}

/// The name a client expects the server to prove, from a host as written in a URL: IP literals
/// (bracketed IPv6 such as `[::1]` included) become IP names, anything else must be a DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    if let Some(ip) = parse_ip(host) {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(host.to_owned()))
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse().ok(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring_provider::default_provider())
}

fn pem_error(e: pem::Error) -> TlsError {
    TlsError::Pem(e.to_string())
}

/// RFC 7468 PEM: standard base64 (with padding) in 64-character lines.
fn pem_encode(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Vec::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            b64.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63]
            } else {
                b'='
            });
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.chunks(64) {
        out.extend(line.iter().map(|&c| char::from(c)));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Which end-entity certificates [`FingerprintVerifier`] accepts.
#[derive(Debug)]
enum Accept {
    Any,
    Pinned(CertFingerprint),
}

/// Verifier for [`ServerTrust::Pinned`] and [`ServerTrust::AcceptAnyDangerous`]: replaces chain and
/// name checks with (at most) a fingerprint comparison, but keeps rustls' handshake-signature checks
/// so that presenting a certificate still requires holding its private key.
#[derive(Debug)]
struct FingerprintVerifier {
    accept: Accept,
    provider: Arc<CryptoProvider>,
}

/// Why a pinned connection was refused; carries both fingerprints so the user can see which
/// certificate the server actually presented.
#[derive(Debug, thiserror::Error)]
#[error(
    "server certificate fingerprint {presented} does not match the pinned fingerprint {pinned}"
)]
struct PinMismatch {
    presented: CertFingerprint,
    pinned: CertFingerprint,
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.accept {
            Accept::Any => Ok(ServerCertVerified::assertion()),
            Accept::Pinned(pinned) => {
                let presented = CertFingerprint::of(end_entity);
                if presented.matches(pinned) {
                    Ok(ServerCertVerified::assertion())
                } else {
                    let mismatch = PinMismatch {
                        presented,
                        pinned: *pinned,
                    };
                    Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                        rustls::OtherError(Arc::new(mismatch)),
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const STEP: Duration = Duration::from_secs(10);

    async fn within<T>(fut: impl Future<Output = T>) -> T {
        tokio::time::timeout(STEP, fut)
            .await
            .expect("step timed out")
    }

    /// Serves one TLS connection on loopback that echoes what it reads, then dials it with `trust`
    /// expecting `host` and returns the echo (or the client-side error).
    async fn echo_round_trip(
        server: &ServerTls,
        trust: &ServerTrust,
        host: &str,
    ) -> std::io::Result<Vec<u8>> {
        let listener = within(TcpListener::bind("127.0.0.1:0")).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = server.acceptor();
        let server_task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await?;
            tls.write_all(&buf).await?;
            tls.shutdown().await?;
            std::io::Result::Ok(())
        });

        let connector = trust.connector().unwrap();
        let tcp = within(TcpStream::connect(addr)).await.unwrap();
        let result = async {
            let mut tls = within(connector.connect(server_name(host).unwrap(), tcp)).await?;
            assert_eq!(
                tls.get_ref().1.alpn_protocol(),
                Some(ALPN_HTTP_1_1),
                "ALPN should be negotiated"
            );
            within(tls.write_all(b"hello")).await?;
            let mut echoed = Vec::new();
            within(tls.read_to_end(&mut echoed)).await?;
            Ok(echoed)
        }
        .await;
        // The server task ends either way (the failed handshake aborts its accept too); joining it
        // keeps a stuck server from going unnoticed.
        let served = within(server_task).await.unwrap();
        if result.is_ok() {
            served.unwrap();
        }
        result
    }

    fn rustls_error(err: &std::io::Error) -> &rustls::Error {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("expected a rustls error, got {err:?}"))
    }

    #[tokio::test]
    async fn accept_any_connects_to_self_signed() {
        let server = ServerTls::self_signed(["example.test"]).unwrap();
        let echoed = echo_round_trip(&server, &ServerTrust::AcceptAnyDangerous, "example.test")
            .await
            .unwrap();
        assert_eq!(echoed, b"hello");
    }

    #[tokio::test]
    async fn pinned_with_right_fingerprint_connects() {
        let server = ServerTls::self_signed(Vec::<String>::new()).unwrap();
        // The pin ignores names, so even a name absent from the certificate connects.
        let trust = ServerTrust::Pinned(server.fingerprint());
        let echoed = echo_round_trip(&server, &trust, "not-in-the-cert.test")
            .await
            .unwrap();
        assert_eq!(echoed, b"hello");
    }

    #[tokio::test]
    async fn pinned_with_other_fingerprint_fails_handshake() {
        let server = ServerTls::self_signed(["localhost"]).unwrap();
        let other = ServerTls::self_signed(["localhost"]).unwrap();
        let trust = ServerTrust::Pinned(other.fingerprint());
        let err = echo_round_trip(&server, &trust, "localhost")
            .await
            .unwrap_err();
        match rustls_error(&err) {
            rustls::Error::InvalidCertificate(CertificateError::Other(other_err)) => {
                let message = other_err.to_string();
                assert!(
                    message.contains(&server.fingerprint().to_string()),
                    "{message}"
                );
                assert!(
                    message.contains(&other.fingerprint().to_string()),
                    "{message}"
                );
            }
            e => panic!("unexpected error {e:?}"),
        }
    }

    /// A `ServerTls` presenting `genuine`'s certificate from a hand-built rustls config.
    fn custom_server(genuine: &ServerTls, config: ServerConfig) -> ServerTls {
        ServerTls {
            config: Arc::new(config),
            leaf: genuine.leaf.clone(),
            fingerprint: genuine.fingerprint,
        }
    }

    fn generated_key() -> PrivateKeyDer<'static> {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        PrivatePkcs8KeyDer::from(key_pair.serialize_der()).into()
    }

    #[tokio::test]
    async fn pinned_and_accept_any_work_over_tls12() {
        // The custom verifier has separate TLS 1.2 and 1.3 signature paths; default configs would
        // only ever negotiate 1.3.
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        let genuine =
            ServerTls::from_der(vec![cert.der().clone()], key.clone_key().into()).unwrap();
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key.into())
            .unwrap();
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        let server = custom_server(&genuine, config);
        for trust in [
            ServerTrust::Pinned(server.fingerprint()),
            ServerTrust::AcceptAnyDangerous,
        ] {
            let echoed = echo_round_trip(&server, &trust, "localhost").await.unwrap();
            assert_eq!(echoed, b"hello", "{trust:?}");
        }
    }

    #[tokio::test]
    async fn pinned_rejects_impostor_without_private_key() {
        // An impostor can copy the pinned certificate but not its key: the handshake signature,
        // made with another key, must fail verification in both lenient modes.
        let genuine = ServerTls::self_signed(["localhost"]).unwrap();
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let provider = provider();
            let wrong_key = provider
                .key_provider
                .load_private_key(generated_key())
                .unwrap();
            let certified = rustls::sign::CertifiedKey::new(vec![genuine.leaf.clone()], wrong_key);
            let mut config = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
            config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
            let impostor = custom_server(&genuine, config);
            for trust in [
                ServerTrust::Pinned(genuine.fingerprint()),
                ServerTrust::AcceptAnyDangerous,
            ] {
                let err = echo_round_trip(&impostor, &trust, "localhost")
                    .await
                    .unwrap_err();
                assert!(
                    matches!(
                        rustls_error(&err),
                        rustls::Error::InvalidCertificate(CertificateError::BadSignature)
                    ),
                    "{version:?} {trust:?}: {err:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn roots_with_self_signed_root_connects() {
        let server = ServerTls::self_signed(["example.test"]).unwrap();
        let trust = ServerTrust::roots_from_pem(server.certificate_pem().as_bytes()).unwrap();
        for host in ["localhost", "127.0.0.1", "[::1]", "example.test"] {
            let echoed = echo_round_trip(&server, &trust, host).await.unwrap();
            assert_eq!(echoed, b"hello", "host {host}");
        }
    }

    #[tokio::test]
    async fn roots_reject_name_not_in_certificate() {
        let server = ServerTls::self_signed(Vec::<String>::new()).unwrap();
        let trust = ServerTrust::roots_from_pem(server.certificate_pem().as_bytes()).unwrap();
        let err = echo_round_trip(&server, &trust, "elsewhere.test")
            .await
            .unwrap_err();
        assert!(
            matches!(rustls_error(&err), rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn roots_with_unrelated_root_fails_handshake() {
        let server = ServerTls::self_signed(["localhost"]).unwrap();
        let unrelated = ServerTls::self_signed(["localhost"]).unwrap();
        let mut store = RootCertStore::empty();
        store.add(unrelated.certificate_der().clone()).unwrap();
        let trust = ServerTrust::Roots(Arc::new(store));
        let err = echo_round_trip(&server, &trust, "localhost")
            .await
            .unwrap_err();
        assert!(
            matches!(rustls_error(&err), rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn from_pem_server_connects() {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.self_signed(&key_pair).unwrap();
        let server =
            ServerTls::from_pem(cert.pem().as_bytes(), key_pair.serialize_pem().as_bytes())
                .unwrap();
        assert_eq!(server.certificate_der(), cert.der());
        assert_eq!(server.fingerprint(), CertFingerprint::of(cert.der()));
        let trust = ServerTrust::Pinned(server.fingerprint());
        let echoed = echo_round_trip(&server, &trust, "localhost").await.unwrap();
        assert_eq!(echoed, b"hello");
    }

    #[test]
    fn certificate_pem_round_trips() {
        let server = ServerTls::self_signed(["example.test"]).unwrap();
        let pem = server.certificate_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|line| line.len() <= 64));
        let parsed = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(&parsed, server.certificate_der());
    }

    #[test]
    fn pem_encoding_matches_rcgen() {
        // Certificates of several lengths exercise every base64 padding case.
        for names in [
            vec!["a.test"],
            vec!["bb.test"],
            vec!["ccc.test", "dddd.test"],
        ] {
            let key_pair = rcgen::KeyPair::generate().unwrap();
            let names = names.into_iter().map(String::from).collect::<Vec<_>>();
            let cert = rcgen::CertificateParams::new(names)
                .unwrap()
                .self_signed(&key_pair)
                .unwrap();
            let ours = pem_encode("CERTIFICATE", cert.der());
            assert_eq!(ours.replace("\r\n", "\n"), cert.pem().replace("\r\n", "\n"));
        }
    }

    #[test]
    fn from_pem_errors() {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        let key_pem = key_pair.serialize_pem();
        assert!(matches!(
            ServerTls::from_pem(b"", key_pem.as_bytes()),
            Err(TlsError::NoCertificate)
        ));
        assert!(matches!(
            ServerTls::from_pem(cert.pem().as_bytes(), cert.pem().as_bytes()),
            Err(TlsError::NoPrivateKey)
        ));
        assert!(matches!(
            ServerTls::from_pem(b"-----BEGIN CERTIFICATE-----\n!!!\n", key_pem.as_bytes()),
            Err(TlsError::Pem(_))
        ));
        let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert!(matches!(
            ServerTls::from_pem(cert.pem().as_bytes(), other_key.as_bytes()),
            Err(TlsError::Config(_))
        ));
        assert!(matches!(
            ServerTrust::roots_from_pem(b"no pem here"),
            Err(TlsError::NoCertificate)
        ));
    }

    #[test]
    fn fingerprint_display_and_parse_round_trip() {
        let fp = CertFingerprint::of(b"not really a certificate");
        let plain = fp.to_string();
        assert_eq!(plain.len(), 64);
        assert!(
            plain
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert_eq!(plain.parse::<CertFingerprint>().unwrap(), fp);
        assert_eq!(plain.to_uppercase().parse::<CertFingerprint>().unwrap(), fp);

        let colons = fp
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(colons.parse::<CertFingerprint>().unwrap(), fp);
        assert_eq!(
            format!(" {colons}\n").parse::<CertFingerprint>().unwrap(),
            fp
        );
        assert_eq!(format!("{fp:?}"), format!("CertFingerprint({plain})"));
    }

    #[test]
    fn fingerprint_rejects_bad_input() {
        let plain = CertFingerprint::of(b"x").to_string();
        let colons = plain
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let bad = [
            String::new(),
            plain[..62].to_string(),
            format!("{plain}00"),
            format!("{}g", &plain[..63]),
            format!("{}é", &plain[..62]),
            colons.replacen(':', "-", 1),
            format!("{}:", &colons[..colons.len() - 1]),
            // Right length and colon count, wrong colon positions.
            format!("{}{plain}", ":".repeat(31)),
        ];
        for input in &bad {
            assert!(
                matches!(
                    input.parse::<CertFingerprint>(),
                    Err(TlsError::BadFingerprint)
                ),
                "accepted {input:?}"
            );
        }
    }

    #[test]
    fn server_names() {
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("[example.com]"),
            Err(TlsError::ServerName(_))
        ));
        assert!(matches!(
            server_name("bad host"),
            Err(TlsError::ServerName(_))
        ));
        assert!(matches!(server_name(""), Err(TlsError::ServerName(_))));
    }

    #[test]
    fn self_signed_rejects_invalid_name() {
        assert!(matches!(
            ServerTls::self_signed(["bücher.test"]),
            Err(TlsError::Generate(_))
        ));
    }

    #[test]
    fn empty_root_store_is_rejected() {
        let trust = ServerTrust::Roots(Arc::new(RootCertStore::empty()));
        assert!(matches!(trust.connector(), Err(TlsError::Config(_))));
        assert_eq!(format!("{trust:?}"), "Roots(0 certificates)");
    }
}
