//! Webhook delivery: the event as JSON in a POST; any 2xx is success.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::DeliveryError;
use crate::health::Transition;

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

/// One POST, answered within `timeout`.
pub(super) async fn post(
    client: &reqwest::Client,
    url: &str,
    event: &Transition,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let body = serde_json::to_vec(event)?;
    let request = client
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .timeout(timeout)
        .send();
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
