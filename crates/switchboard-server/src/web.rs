//! The web pages served by the binary itself (`docs/web.md`): the wallboard (`/`, `/wallboard`), the agent
//! desktop (`/agent`) and the task explorer (`/tasks`), with their scripts and style sheet under `/web/`. Plain
//! HTML, CSS and ES modules embedded at compile time: no build step, no CDN, nothing fetched from elsewhere. The
//! pages use only switchboard's public APIs (REST and the CTI websocket), so they double as examples.
//!
//! Every answer carries an `ETag` (a hash of the content) with `Cache-Control: no-cache`: browsers revalidate
//! and get a 304 while the binary is unchanged, and never run a stale script after an upgrade.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::openapi::{schema_of, Answer, Endpoint, ErrorBody};

/// One embedded file: its name under `/web/`, content type and content.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

const ASSETS: &[Asset] = &[
    Asset {
        name: "wallboard.html",
        content_type: HTML,
        body: include_str!("../web/wallboard.html"),
    },
    Asset {
        name: "agent.html",
        content_type: HTML,
        body: include_str!("../web/agent.html"),
    },
    Asset {
        name: "tasks.html",
        content_type: HTML,
        body: include_str!("../web/tasks.html"),
    },
    Asset {
        name: "app.css",
        content_type: CSS,
        body: include_str!("../web/app.css"),
    },
    Asset {
        name: "cti.js",
        content_type: JS,
        body: include_str!("../web/cti.js"),
    },
    Asset {
        name: "rest.js",
        content_type: JS,
        body: include_str!("../web/rest.js"),
    },
    Asset {
        name: "ui.js",
        content_type: JS,
        body: include_str!("../web/ui.js"),
    },
    Asset {
        name: "chart.js",
        content_type: JS,
        body: include_str!("../web/chart.js"),
    },
    Asset {
        name: "wallboard.js",
        content_type: JS,
        body: include_str!("../web/wallboard.js"),
    },
    Asset {
        name: "agent.js",
        content_type: JS,
        body: include_str!("../web/agent.js"),
    },
    Asset {
        name: "tasks.js",
        content_type: JS,
        body: include_str!("../web/tasks.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: SVG,
        body: include_str!("../web/icon.svg"),
    },
];

/// The pages' security policy: everything from this server only (the websocket included), no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body.as_bytes());
                let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

fn serve(name: &str, headers: &HeaderMap) -> Option<Response> {
    let index = ASSETS.iter().position(|asset| asset.name == name)?;
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type == HTML {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    Some(response)
}

fn page(name: &'static str) -> axum::routing::MethodRouter<crate::AppState> {
    get(move |headers: HeaderMap| async move {
        serve(name, &headers).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
    })
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers).unwrap_or_else(|| {
        ApiError::not_found("NotFound", format!("No file '/web/{name}'.")).into_response()
    })
}

/// The pages and their files. Public: each page signs in by itself (CTI login or API key) and calls the APIs.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::http::Method;
    let html = Answer::Text("text/html");
    vec![
        Endpoint::new(
            Method::GET,
            "/",
            "Web",
            "The wallboard (as /wallboard)",
            &[],
            html,
            page("wallboard.html"),
        ),
        Endpoint::new(
            Method::GET,
            "/wallboard",
            "Web",
            "The wallboard: live queue tiles, the last hour's chart and the agent grid (sign in as a supervisor \
             or with an API key)",
            &[],
            html,
            page("wallboard.html"),
        ),
        Endpoint::new(
            Method::GET,
            "/agent",
            "Web",
            "The agent desktop: sign in, take offers, wrap up, pause, work callbacks",
            &[],
            html,
            page("agent.html"),
        ),
        Endpoint::new(
            Method::GET,
            "/tasks",
            "Web",
            "The task explorer: search tasks, their timelines and routing explanations (with an API key)",
            &[],
            html,
            page("tasks.html"),
        ),
        Endpoint::new(
            Method::GET,
            "/web/{asset}",
            "Web",
            "The pages' scripts, style sheet and icon (embedded in the binary)",
            &[],
            Answer::Files(&["text/html", "text/css", "text/javascript", "image/svg+xml"]),
            get(asset),
        )
        .refusal(404, "No such file", schema_of::<ErrorBody>),
    ]
    .into_iter()
    .map(|endpoint| endpoint.bodiless(304, "Not modified: If-None-Match names the current ETag"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_names_only_embedded_files_and_no_other_host() {
        for asset in ASSETS {
            // The SVG namespace is a name, not a place anything is fetched from.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{} names another host",
                asset.name
            );
            for reference in asset
                .body
                .split(['"', '\''])
                .filter(|s| s.starts_with("/web/"))
            {
                let file = reference.trim_start_matches("/web/");
                assert!(
                    ASSETS.iter().any(|a| a.name == file),
                    "{} refers to {reference}, which is not embedded",
                    asset.name
                );
            }
        }
    }
}
