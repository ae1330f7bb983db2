//! What the index tells its operators, in process against a real
//! repository: `/metrics` counts requests by route, uploads by outcome and
//! publish runs with each file's upload→published delay, and reads the
//! queue and role expiry from the state; `/healthz`, `/readyz` (and why
//! not ready); `/metrics` on a listener of its own; request ids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step should abort the test with its reason"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bulwark_server::ServerConfig;
use bulwark_server::publisher::{RunOutcome, run_once};
use bulwark_store::sqlite::SqliteState;
use common::{Form, Index, wheel};
use tower::ServiceExt as _;

/// The value of the sample `series` (name and labels, exactly as
/// written) in the metrics text, or `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

async fn scrape(index: &Index) -> String {
    let reply = index.get("/metrics").await;
    reply.assert_ok();
    assert_eq!(
        reply.header(axum::http::header::CONTENT_TYPE),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    reply.text()
}

#[tokio::test]
async fn metrics_count_requests_uploads_publish_runs_and_read_the_queue() {
    let index = Index::new();
    let dist = wheel("demo", "1.0");
    index.upload(&dist).await.assert_ok();
    // Refused: no credentials, someone else's project, a bad form.
    index
        .post_form(&Form::twine(&dist), None)
        .await
        .assert_refused(StatusCode::UNAUTHORIZED, "Authentication required");
    index
        .upload_as(&index.repo.bob, &Form::twine(&wheel("demo", "2.0")))
        .await
        .assert_refused(StatusCode::FORBIDDEN, "The user does not own");
    let bad = index
        .upload_as(
            &index.repo.alice,
            &Form::twine(&dist).set(":action", "nope"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    index.get("/simple/demo/").await.assert_ok();
    index.get("/no/such/route").await;

    let before = scrape(&index).await;
    for (series, value) in [
        (r#"bulwark_uploads_total{outcome="accepted"}"#, 1.0),
        (r#"bulwark_uploads_total{outcome="unauthenticated"}"#, 1.0),
        (r#"bulwark_uploads_total{outcome="forbidden"}"#, 1.0),
        (r#"bulwark_uploads_total{outcome="invalid"}"#, 1.0),
        (
            r#"bulwark_http_requests_total{route="/simple/{name}/",method="GET",status="200"}"#,
            1.0,
        ),
        (
            r#"bulwark_http_requests_total{route="/legacy/",method="POST",status="403"}"#,
            1.0,
        ),
        (
            r#"bulwark_http_requests_total{route="unmatched",method="GET",status="404"}"#,
            1.0,
        ),
        ("bulwark_publish_queue_projects", 1.0),
        ("bulwark_upload_to_published_seconds_count", 0.0),
        (r#"bulwark_store_failures_total{store="state"}"#, 0.0),
    ] {
        assert_eq!(
            sample(&before, series),
            Some(value),
            "{series} in\n{before}"
        );
    }
    // The path itself is never a label.
    assert!(!before.contains("/simple/demo/"), "{before}");

    assert_eq!(
        run_once(&index.repo.publisher, &index.repo.metrics).await,
        RunOutcome::Done
    );
    assert_eq!(
        run_once(&index.repo.publisher, &index.repo.metrics).await,
        RunOutcome::Done
    );
    let after = scrape(&index).await;
    for (series, value) in [
        (r#"bulwark_publish_runs_total{outcome="published"}"#, 1.0),
        (r#"bulwark_publish_runs_total{outcome="idle"}"#, 1.0),
        ("bulwark_publish_run_duration_seconds_count", 1.0),
        ("bulwark_upload_to_published_seconds_count", 1.0),
        ("bulwark_publish_queue_projects", 0.0),
    ] {
        assert_eq!(sample(&after, series), Some(value), "{series} in\n{after}");
    }
    let day = 86_400.0;
    for role in ["timestamp", "snapshot", "bins"] {
        let left = sample(
            &after,
            &format!(r#"bulwark_role_expiry_seconds{{role="{role}"}}"#),
        )
        .unwrap_or_else(|| panic!("no expiry of {role} in\n{after}"));
        assert!(left > 0.0 && left <= day, "{role}: {left}");
    }
    let targets = sample(&after, r#"bulwark_role_expiry_seconds{role="targets"}"#).unwrap();
    assert!(targets > 300.0 * day, "targets: {targets}");
    assert!(after.ends_with("# EOF\n"), "{after}");
}

#[tokio::test]
async fn healthz_answers_and_readyz_says_why_not_ready() {
    let index = Index::new();
    let ok = index.get("/healthz").await;
    ok.assert_ok();
    assert_eq!(ok.text(), "ok\n");
    let ready = index.get("/readyz").await;
    ready.assert_ok();
    assert_eq!(ready.text(), "ready\n");

    // A timestamp with less time left than the margin: the publisher
    // should have re-signed it.
    let near = Index::with(ServerConfig {
        ready_margin: Duration::from_hours(48),
        ..ServerConfig::default()
    });
    let reply = near.get("/readyz").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        reply
            .text()
            .starts_with("not ready: the timestamp expires in "),
        "{}",
        reply.text()
    );

    // Nothing published yet.
    let mut state = index.repo.state(ServerConfig::default());
    state.store = Arc::new(SqliteState::in_memory().unwrap());
    let reply = bulwark_server::router(state)
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(reply.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"not ready: nothing is published yet\n");
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let index = Index::with(ServerConfig {
        separate_metrics: true,
        ..ServerConfig::default()
    });
    assert_eq!(index.get("/metrics").await.status, StatusCode::NOT_FOUND);
    index.get("/healthz").await.assert_ok();
    let own = bulwark_server::metrics_router(index.repo.state(index.config.clone()));
    for path in ["/metrics", "/healthz", "/readyz"] {
        let reply = own
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_clients_is_kept() {
    let index = Index::new();
    let first = index.get("/simple/").await;
    let second = index.get("/simple/").await;
    let id = |reply: &common::Reply| {
        reply
            .header("x-request-id".parse().unwrap())
            .unwrap()
            .to_owned()
    };
    assert_ne!(id(&first), id(&second));
    let given = index
        .get_with(
            "/simple/",
            &[("x-request-id".parse().unwrap(), "ci-run-42")],
        )
        .await;
    assert_eq!(id(&given), "ci-run-42");
    let forged = index
        .get_with(
            "/nope",
            &[("x-request-id".parse().unwrap(), "a b\" injected=1")],
        )
        .await;
    assert_ne!(id(&forged), "a b\" injected=1");
}
