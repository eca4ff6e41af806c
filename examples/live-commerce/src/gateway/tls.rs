//! TLS at the front door: rustls (on the `ring` provider), with the
//! operator's certificate, or a self-signed one made at start-up.
//!
//! The development certificate names `localhost`, `127.0.0.1` and `::1`
//! and lives only as long as the process: a browser warns about it, `curl`
//! needs `-k` (or `--cacert` with the PEM that [`Tls::certificate_pem`]
//! returns and the gateway logs at start). Production passes
//! `--tls-cert/--tls-key` (PEM files: the chain, and the private key).

use std::path::PathBuf;

use axum_server::tls_rustls::RustlsConfig;

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A self-signed certificate for `localhost`, made now.
    Development,
    /// PEM files: the certificate chain and its private key.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
}

/// A loaded server configuration.
#[derive(Clone)]
pub struct Tls {
    /// What axum-server serves with.
    pub config: RustlsConfig,
    certificate_pem: String,
}

impl Tls {
    /// Loads or makes the certificate.
    pub async fn load(source: &TlsSource) -> anyhow::Result<Self> {
        // One process-wide provider: `ring`, the one this workspace compiles.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (cert, key) = match source {
            TlsSource::Development => development_certificate()?,
            TlsSource::Files { cert, key } => (
                std::fs::read_to_string(cert)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", cert.display()))?,
                std::fs::read_to_string(key)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", key.display()))?,
            ),
        };
        let config = RustlsConfig::from_pem(cert.clone().into_bytes(), key.into_bytes())
            .await
            .map_err(|error| {
                anyhow::anyhow!("the TLS certificate or key is not usable: {error}")
            })?;
        Ok(Self {
            config,
            certificate_pem: cert,
        })
    }

    /// The certificate (chain) served, as PEM: what a client that trusts
    /// the development certificate adds to its roots.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }
}

fn development_certificate() -> anyhow::Result<(String, String)> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}
