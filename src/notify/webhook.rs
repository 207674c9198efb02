//! Webhook delivery: the event as JSON in a POST; any 2xx is success.
//!
//! Every POST carries `X-Healthdns-Event: ID` and the notifier's extra
//! headers; with a secret, `X-Healthdns-Signature: sha256=HEX`, the
//! HMAC-SHA256 of the exact body bytes under the secret. A retry sends the
//! same bytes, so the same id and signature.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sha2::Sha256;

use super::DeliveryError;
use crate::config::notify::{EVENT_HEADER, SIGNATURE_HEADER, Secret, Webhook};

/// The one client every webhook shares (connections pooled per host).
/// No proxy from the environment, and no redirects: a webhook that moved
/// answers 3xx, which is a failure the operator sees in the log.
pub(super) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("healthdns/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(1)
        .build()
}

/// `sha256=HEX`: the HMAC-SHA256 of `body` under `secret`.
pub(super) fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&secret.0) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut text = String::with_capacity(7 + 2 * digest.len());
    text.push_str("sha256=");
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// One POST of `body` (the event `id` as JSON), answered within `timeout`.
pub(super) async fn post(
    client: &reqwest::Client,
    hook: &Webhook,
    id: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let mut request = client
        .post(&hook.url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(EVENT_HEADER, id);
    for (name, value) in &hook.headers {
        request = request.header(name, value);
    }
    if let Some(secret) = &hook.secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, body));
    }
    let request = request.body(body.to_vec()).timeout(timeout).send();
    // reqwest's timeout covers the request; this one is the contract.
    let response = match tokio::time::timeout(timeout, request).await {
        Err(_) => return Err(DeliveryError::Timeout(timeout)),
        Ok(Err(err)) if err.is_timeout() => return Err(DeliveryError::Timeout(timeout)),
        Ok(Err(err)) => return Err(DeliveryError::Request(err)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status(status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_rfc_4231_says() {
        // RFC 4231, test case 2.
        let secret = Secret(b"Jefe".to_vec());
        assert_eq!(
            signature(&secret, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
