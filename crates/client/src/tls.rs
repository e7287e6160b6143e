//! The TLS set-up for `wss://` (reqwest's `rustls-tls` does the same for `https://`): rustls
//! with the ring provider, trusting the Mozilla root set built into the binary (as the server
//! does for Postgres), so neither system certificates nor a process-wide crypto provider are
//! needed.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};

pub(crate) fn config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let config =
                ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .expect("ring supports rustls's default protocol versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}
