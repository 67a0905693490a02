//! Integration tests of the server over real HTTP: `TestApp` starts it on 127.0.0.1:0 over a fresh SQLite file,
//! with a clock the tests move by hand (timers fire through `AppState::tick`, never by sleeping).

mod auth;
mod cti;
mod events;
mod fuzz;
mod limits;
mod lucs;
mod openapi;
mod puzzel;
mod web;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_core::{Span, Time};
use switchboard_server::clock::ManualClock;
use switchboard_server::{AppState, ServerConfig};
use switchboard_store::Store;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub db_url: String,
    dir: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// A server over a fresh database.
    pub async fn start() -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db_url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
        let clock = Arc::new(ManualClock::new(Time::from_secs(1_561_636_715)));
        let mut app = TestApp::start_on(&db_url, clock).await;
        app.dir = Some(dir);
        app
    }

    /// A server with these settings over a fresh database.
    pub async fn start_with(config: ServerConfig) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db_url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
        let clock = Arc::new(ManualClock::new(Time::from_secs(1_561_636_715)));
        let mut app = TestApp::start_configured(&db_url, clock, config).await;
        app.dir = Some(dir);
        app
    }

    /// A server over an existing database (for restarts).
    pub async fn start_on(db_url: &str, clock: Arc<ManualClock>) -> TestApp {
        TestApp::start_configured(db_url, clock, ServerConfig::default()).await
    }

    /// A server with these settings over an existing database (restarts with non-default settings).
    pub async fn start_configured(
        db_url: &str,
        clock: Arc<ManualClock>,
        config: ServerConfig,
    ) -> TestApp {
        let url = db_url.to_string();
        let state_clock = clock.clone();
        let state = tokio::task::spawn_blocking(move || {
            let store = Arc::new(Store::open(&url).expect("open store"));
            AppState::open(store, state_clock, config, Some(ADMIN_KEY)).expect("open state")
        })
        .await
        .expect("join")
        .0;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            switchboard_server::serve(listener, server_state, async {
                let _ = stop.await;
            })
            .await
            .expect("serve");
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            state,
            clock,
            db_url: db_url.to_string(),
            dir: None,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server gracefully; returns the database directory so a restart can reuse it.
    pub async fn stop(mut self) -> (Option<tempfile::TempDir>, String, Arc<ManualClock>) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
        (self.dir.take(), self.db_url.clone(), self.clock.clone())
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(key) = key {
            request = request.header("api_key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(ADMIN_KEY), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(ADMIN_KEY), Some(body))
            .await
    }

    /// Moves the clock and fires due timers.
    pub async fn advance(&self, seconds: i64) {
        self.clock.advance(Span::from_secs(seconds));
        self.state.tick().await.expect("tick");
    }

    /// A service with the SIP URI of seed 000.
    pub async fn business_service(&self) -> String {
        let (status, body) = self
            .post(
                "/v2.0/services",
                json!({
                    "Name": "Business Customer Care",
                    "SipUri": "sip:smoky.businesss@dev.local",
                    "TelNumber": "+41000000000",
                    "Culture": "en-GB"
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["Id"].as_str().expect("service id").to_string()
    }

    /// A user of seed 001's shape, member of the service, online.
    pub async fn online_user(&self, sam: &str, first: &str, last: &str, service: &str) -> String {
        let (status, body) = self
            .post(
                "/v1.0/users",
                json!({
                    "SipUri": format!("sip:{sam}@dev.local"),
                    "Upn": format!("{sam}@dev.local"),
                    "Email": format!("{sam}@dev.local"),
                    "FirstName": first,
                    "LastName": last,
                    "Sam": sam,
                    "IsBusySelectable": true,
                    "IsBusyInAMeetingSelectable": true,
                    "ShowAwayAsOffline": true,
                    "NumberOfSimultaneousIm": 3,
                    "CurrentProfile": "Day Shift",
                    "Traits": [
                        {"TraitNode": "Expertise/Customer Care Services", "Attribute": "Expert"},
                        {"TraitNode": "Language/English", "Attribute": "Native"}
                    ],
                    "Profiles": [
                        {"Name": "Day Shift", "Responsibilities": [
                            {"TraitNode": "Expertise/Customer Care Services", "Responsibility": "High"}]},
                        {"Name": "OffDuty", "Responsibilities": []}
                    ],
                    "Services": [{"Service": service}]
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = body["Id"].as_str().expect("user id").to_string();
        let (status, body) = self
            .post(
                &format!("/v1.0/users/{id}/setpresence"),
                json!({"Presence": "Online"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
