//! The one self-signed certificate every TLS row uses.
//!
//! It is generated here rather than with `hardlight::ServerTls::self_signed` because tonic needs the
//! private key too, and `ServerTls` (rightly) does not give its key out.

use crate::{BoxError, error};

/// A self-signed certificate for `localhost` and `127.0.0.1`, with its private key, both PEM.
#[derive(Clone)]
pub struct BenchCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

impl BenchCert {
    /// Generates a fresh certificate and key (ECDSA P-256).
    ///
    /// # Errors
    /// If rcgen cannot generate them.
    pub fn generate() -> Result<Self, BoxError> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let generate = |e: rcgen::Error| error(format!("could not generate the certificate: {e}"));
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let cert = rcgen::CertificateParams::new(names)
            .map_err(generate)?
            .self_signed(&key)
            .map_err(generate)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The certificate and key as hardlight's server TLS material.
    ///
    /// # Errors
    /// If hardlight refuses the PEM.
    pub fn hardlight(&self) -> Result<hardlight::ServerTls, BoxError> {
        hardlight::ServerTls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .map_err(|e| error(format!("hardlight refused the certificate: {e}")))
    }

    /// The certificate and key as tonic's server identity.
    pub fn tonic_identity(&self) -> tonic::transport::Identity {
        tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

impl std::fmt::Debug for BenchCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keep the key out of logs, even a throwaway one.
        f.debug_struct("BenchCert").finish_non_exhaustive()
    }
}
