//! `healthdns status` and `healthdns override`: small clients of the admin
//! API, and [`Api`], the calls they and `healthdns drill` make.

use std::time::Duration;

/// Why a request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not get an answer.
    #[error("{method} {url}")]
    Request {
        /// `GET`, `POST` or `DELETE`.
        method: &'static str,
        /// Where to.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The answer said no (its status and body).
    #[error("{code}: {text}")]
    Refused {
        /// The HTTP status.
        code: reqwest::StatusCode,
        /// The body.
        text: String,
    },
    /// The answer could not be read.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The answer was not the JSON expected.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// No runtime to run the request on.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The admin API of one server: its base URL, and the bearer token the
/// calls that change state send.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    /// The API at `base` (`http://127.0.0.1:8053`), each request given up
    /// after `timeout`.
    pub fn new(base: &str, token: Option<&str>, timeout: Duration) -> Result<Api, Error> {
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(timeout)
                .build()?,
        })
    }

    /// `GET /api/v1/status`.
    pub async fn status(&self) -> Result<serde_json::Value, Error> {
        self.call(reqwest::Method::GET, "/api/v1/status".to_owned(), None)
            .await
    }

    /// Forces `target` into `state` (`down`, `up` or `auto`), for
    /// `duration` when given; the target's status as it will be.
    pub async fn set_override(
        &self,
        target: &str,
        state: &str,
        duration: Option<&str>,
    ) -> Result<serde_json::Value, Error> {
        let body = serde_json::json!({"state": state, "for": duration});
        let path = format!("/api/v1/targets/{}/override", encode(target));
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Starts or renews a simulated failure of `target` for `lease`
    /// (`20s`); the target's status.
    pub async fn simulate(&self, target: &str, lease: &str) -> Result<serde_json::Value, Error> {
        let body = serde_json::json!({"for": lease});
        let path = format!("/api/v1/targets/{}/simulate", encode(target));
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Ends the simulated failure of `target`; the target's status.
    pub async fn end_simulation(&self, target: &str) -> Result<serde_json::Value, Error> {
        let path = format!("/api/v1/targets/{}/simulate", encode(target));
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// One request; the answer's JSON, or why there is none.
    async fn call(
        &self,
        method: reqwest::Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let name = match method {
            reqwest::Method::GET => "GET",
            reqwest::Method::POST => "POST",
            _ => "DELETE",
        };
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(token) = &self.token
            && name != "GET"
        {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|source| Error::Request {
            method: name,
            url: url.clone(),
            source,
        })?;
        let code = response.status();
        let bytes = response.bytes().await?;
        if !code.is_success() {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return Err(Error::Refused { code, text });
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// A target (`ADDRESS:PORT/CHECK`) as one segment of a URL's path.
fn encode(target: &str) -> String {
    target
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How long the `status` and `override` subcommands wait for an answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Prints the health table of the server whose API is at `api`.
pub fn status(api: &str) -> Result<(), Error> {
    let client = Api::new(api, None, COMMAND_TIMEOUT)?;
    let status = runtime()?.block_on(client.status())?;
    let cluster = &status["cluster"];
    if !cluster.is_null() {
        let members: Vec<&str> = cluster["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
            .collect();
        println!(
            "cluster: {} {}, {} member(s): {}; quorum {}, partition {}\n",
            cluster["name"].as_str().unwrap_or("?"),
            if cluster["connected"] == true {
                "connected to etcd"
            } else {
                "NOT connected to etcd"
            },
            members.len(),
            members.join(" "),
            cluster["quorum"].as_str().unwrap_or("?"),
            cluster["partition"].as_str().unwrap_or("?"),
        );
    }
    let views = |target: &serde_json::Value| -> Option<String> {
        let views = target["views"].as_object()?;
        let votes: Vec<String> = views
            .iter()
            .map(|(name, view)| format!("{name}:{}", view.as_str().unwrap_or("?")))
            .collect();
        Some(votes.join(" "))
    };
    print!(
        "{:<32} {:<6} {:<8} {:<16} {:>10}  ",
        "TARGET", "STATE", "SERVING", "OVERRIDE", "LATENCY"
    );
    if cluster.is_null() {
        println!("LAST PROBE");
    } else {
        // STATE is the cluster's verdict; each instance's view follows.
        println!("{:<6} VIEWS", "CHECKS");
    }
    for target in status["targets"].as_array().into_iter().flatten() {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
        let forced = match &target["override"] {
            serde_json::Value::Null if !target["simulated"].is_null() => "drill".to_owned(),
            serde_json::Value::Null if target["held"] == true => "held".to_owned(),
            serde_json::Value::Null => "-".to_owned(),
            o => format!(
                "{} {}",
                text(&o["state"]),
                o["until"].as_str().map_or("", |_| "(expires)")
            ),
        };
        let probe = &target["last_probe"];
        print!(
            "{:<32} {:<6} {:<8} {:<16} {:>8.1}ms  ",
            text(&target["target"]),
            text(&target["state"]),
            if target["serving"] == true {
                "yes"
            } else {
                "no"
            },
            forced,
            probe["latency_ms"].as_f64().unwrap_or(0.0),
        );
        match views(target) {
            Some(views) => println!("{:<6} {views}", text(&target["checks"])),
            None => println!("{}", text(&probe["reason"])),
        }
    }
    Ok(())
}

/// Asks the server whose API is at `api` to force `target` into `state`.
pub fn set_override(
    api: &str,
    target: &str,
    state: &str,
    duration: Option<&str>,
    token: Option<&str>,
) -> Result<(), Error> {
    let client = Api::new(api, token, COMMAND_TIMEOUT)?;
    runtime()?.block_on(client.set_override(target, state, duration))?;
    println!(
        "{target}: {state}{}",
        duration.map(|d| format!(" for {d}")).unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_target_is_one_path_segment() {
        assert_eq!(super::encode("127.0.0.1:80/web"), "127.0.0.1%3A80%2Fweb");
        assert_eq!(super::encode("[::1]:80/a b"), "%5B%3A%3A1%5D%3A80%2Fa%20b");
    }
}
