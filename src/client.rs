//! `healthdns status` and `healthdns override`: small clients of the admin API.

/// Why a request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not get an answer.
    #[error("{method} {url}")]
    Request {
        /// `GET` or `POST`.
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

fn http() -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder().no_proxy().build()?)
}

/// Prints the health table of the server whose API is at `api`.
pub fn status(api: &str) -> Result<(), Error> {
    let url = format!("{}/api/v1/status", api.trim_end_matches('/'));
    let status: serde_json::Value = runtime()?.block_on(async {
        let response = http()?
            .get(&url)
            .send()
            .await
            .map_err(|source| Error::Request {
                method: "GET",
                url: url.clone(),
                source,
            })?;
        let bytes = response.error_for_status()?.bytes().await?;
        Ok::<_, Error>(serde_json::from_slice(&bytes)?)
    })?;
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
    let encoded: String = target
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!(
        "{}/api/v1/targets/{encoded}/override",
        api.trim_end_matches('/')
    );
    let body = serde_json::json!({"state": state, "for": duration});
    let (code, text) = runtime()?.block_on(async {
        let mut request = http()?
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|source| Error::Request {
            method: "POST",
            url: url.clone(),
            source,
        })?;
        Ok::<_, Error>((response.status(), response.text().await?))
    })?;
    if code.is_success() {
        println!(
            "{target}: {state}{}",
            duration.map(|d| format!(" for {d}")).unwrap_or_default()
        );
        Ok(())
    } else {
        Err(Error::Refused { code, text })
    }
}
