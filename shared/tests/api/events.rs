//! Every event in `events/` (the ones `sam local invoke` and `cargo lambda invoke` take) is a
//! valid API Gateway event that drives its function to the status its file name documents:
//! `<name>.<status>[-case].json`.
use std::path::PathBuf;

use shared::domain::PhoneNumber;

use crate::helpers::{app, random_phone};

/// The events' fixed phone (`EVENT_PHONE` in xtask/src/routes.rs, which writes the events), read
/// from the send-code event; each run replaces it with a fresh one so runs never collide.
fn event_phone(dir: &std::path::Path) -> String {
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("send-code.200.json")).unwrap())
            .unwrap();
    let body: serde_json::Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["phone"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_event_file_drives_its_function_to_the_documented_status() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "expected an event per route and case, found {}",
        files.len()
    );
    let event_phone = event_phone(&dir);
    let app = app().await;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let expected: u16 = name
            .split('.')
            .nth(1)
            .and_then(|s| s[..3].parse().ok())
            .unwrap_or_else(|| panic!("{name}: the name must be <name>.<status>[-case].json"));
        let phone = random_phone();
        let mut text = std::fs::read_to_string(&file)
            .unwrap()
            .replace(&event_phone, &phone);
        if text.contains("REPLACE_WITH_CODE") {
            text = text.replace("REPLACE_WITH_CODE", &app.code_for(&phone).await);
        }
        if text.contains("REPLACE_WITH_TOKEN") {
            let parsed =
                PhoneNumber::parse(&phone, shared::domain::phone::parse_region("RU").unwrap())
                    .unwrap();
            let (user, _) = shared::usecases::login::find_or_create_user(&app.state, &parsed)
                .await
                .unwrap();
            let token =
                app.state
                    .tokens
                    .issue(&user.id, user.token_version, app.state.clock.now_s());
            text = text.replace("REPLACE_WITH_TOKEN", &token);
        }
        let resp = app.call_event(&text).await;
        assert_eq!(resp.status, expected, "{name}: {resp:#?}");
    }
}

#[tokio::test]
async fn every_route_in_the_table_reaches_its_function_and_others_are_refused() {
    let app = app().await;
    for route in shared::routes::ROUTES {
        let resp = app
            .call_event(&shared::testing::event(route.method, route.path, &[], None))
            .await;
        assert!(
            ![404, 405].contains(&resp.status),
            "{route:?} was not dispatched: {resp:#?}"
        );
        let resp = app
            .call_event(&shared::testing::event("PUT", route.path, &[], None))
            .await;
        resp.assert_problem(405, "method_not_allowed");
        let methods: Vec<&str> = shared::routes::ROUTES
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| r.method)
            .collect();
        assert_eq!(
            resp.header("allow"),
            Some(methods.join(", ").as_str()),
            "{route:?}"
        );
    }
    app.call("GET", "/v1/nowhere", None, None)
        .await
        .assert_problem(404, "not_found");
}
