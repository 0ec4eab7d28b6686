//! TLS for outbound HTTPS (webhooks): rustls on the `ring` provider, installed once per process.

use std::sync::Once;

/// Makes `ring` the process's rustls provider, unless one is installed already.
pub(crate) fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
