//! The sample app's behaviour: real tokens, real 401s, carts that keep items, async reports.

use std::time::Duration;

use loadforge_gate::sample_app::Knobs;

use crate::harness::{http, json, sample_app, wait_until};

#[test]
fn protected_routes_need_the_issued_token() {
    let app = sample_app(Knobs::default());
    let (status, _) = http(app.addr, "GET", "/dashboard", &[], None);
    assert_eq!(status, 401);
    let (status, _) = http(
        app.addr,
        "GET",
        "/dashboard",
        &[("Authorization", "Bearer forged")],
        None,
    );
    assert_eq!(status, 401);
    let (status, body) = http(
        app.addr,
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(r#"{"email":"a@example.com","password":"pw"}"#),
    );
    assert_eq!(status, 200);
    let token = json(&body)["token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {token}");
    let (status, body) = http(
        app.addr,
        "GET",
        "/dashboard",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Dashboard</h1>"));
    let (status, _) = http(
        app.addr,
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(r#"{"email":"a"}"#),
    );
    assert_eq!(status, 400, "a login without password is refused");
}

#[test]
fn carts_store_items_and_reports_complete() {
    let app = sample_app(Knobs::default());
    let (_, body) = http(
        app.addr,
        "POST",
        "/api/auth/session",
        &[],
        Some(r#"{"email":"b@example.com","password":"pw"}"#),
    );
    let session = json(&body);
    let auth = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let cart = session["cart_id"].as_str().unwrap();
    let (status, _) = http(
        app.addr,
        "POST",
        &format!("/api/carts/{cart}/items"),
        &[("Authorization", &auth)],
        Some(r#"{"product_id":1044,"quantity":2}"#),
    );
    assert_eq!(status, 201);
    let (_, body) = http(
        app.addr,
        "GET",
        &format!("/api/carts/{cart}"),
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(json(&body)["items"][0]["product_id"], 1044);
    let (status, _) = http(
        app.addr,
        "GET",
        "/api/carts/nope",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(status, 404);

    let (_, body) = http(
        app.addr,
        "POST",
        "/api/admin/login",
        &[],
        Some(r#"{"username":"admin","password":"pw"}"#),
    );
    let admin = format!("Bearer {}", json(&body)["jwt"].as_str().unwrap());
    let (status, body) = http(
        app.addr,
        "POST",
        "/api/admin/reports",
        &[("Authorization", &admin)],
        Some(r#"{"report_type":"usage_summary"}"#),
    );
    assert_eq!(status, 202);
    let id = json(&body)["report_id"].as_str().unwrap().to_string();
    let status_path = format!("/api/admin/reports/{id}/status");
    let (_, body) = http(
        app.addr,
        "GET",
        &status_path,
        &[("Authorization", &admin)],
        None,
    );
    assert_eq!(json(&body)["status"], "running");
    let completed = wait_until(Duration::from_secs(30), || {
        let (_, body) = http(
            app.addr,
            "GET",
            &status_path,
            &[("Authorization", &admin)],
            None,
        );
        json(&body)["status"] == "completed"
    });
    assert!(completed, "the report never completed");
}

#[test]
fn knobs_inject_errors_and_latency() {
    let app = sample_app(Knobs {
        error_rate: 1.0,
        ..Knobs::default()
    });
    assert_eq!(http(app.addr, "GET", "/health", &[], None).0, 500);
    let slow = sample_app(Knobs {
        slow: vec![Knobs::parse_slow("/health=150").unwrap()],
        ..Knobs::default()
    });
    let t = std::time::Instant::now();
    assert_eq!(http(slow.addr, "GET", "/health", &[], None).0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert!(Knobs::parse_slow("/x").is_err());
    assert!(Knobs::parse_slow("/x=abc").is_err());
}
