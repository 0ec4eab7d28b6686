//! The studio agent over MCP, against the SDK's mock studio: formats that declare their
//! assets, filtered; a preview; builds of one format and of several; builds refused on the
//! asset at fault; a library with per-item failures; a VAST tag built from a library video;
//! another buyer's creative out of reach; and a build handed off while the studio renders,
//! followed to the end.

use std::time::{Duration, Instant};

use adcp_conformance::harness::{runner, two_buyers};
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use adcp_runtime::test_util::McpClient;
use creative_template::{TemplateStudio, agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("studio-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn manifest(format: &str, width: i64, height: i64) -> Value {
    json!({"format_id": {"agent_url": "https://elsewhere.example", "id": format},
           "assets": {"image": {"asset_type": "image", "url": "https://cdn.example/hero.jpg",
                                "width": width, "height": height},
                      "headline": {"asset_type": "text", "content": "Trail season"},
                      "click_url": {"asset_type": "url", "url": "https://acmeoutdoor.example/trail"}}})
}

fn build(target: &Value, m: &Value) -> Value {
    json!({"idempotency_key": key(), "creative_manifest": m, "target_format_id": target,
           "context": {"correlation_id": "c-3"}})
}

fn target(id: &str) -> Value {
    json!({"agent_url": "https://elsewhere.example", "id": id})
}

async fn finished(client: &McpClient, task: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, t) = client
            .call(
                "tasks_get",
                json!({"task_id": task, "include_result": true}),
            )
            .await;
        if t["status"] == "completed" || t["status"] == "failed" {
            return t;
        }
        assert!(Instant::now() < deadline, "still {t}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn templates_are_formats_previewed_built_and_followed() {
    let upstream = runner()
        .mock_server("creative-template")
        .expect("the mock studio starts");
    let (url, secret) = (upstream.url.clone(), upstream.key.clone());
    let (_server, alice, bob) = two_buyers(config(false), move |c| {
        agent(
            c,
            Stores::memory(),
            TemplateStudio::new(&url, &secret, "acmeoutdoor.example"),
        )
    });
    let (url, secret) = (upstream.url.clone(), upstream.key.clone());
    let (_slow, patient, _) = two_buyers(config(false), move |c| {
        let studio = TemplateStudio::new(&url, &secret, "acmeoutdoor.example").polls(0);
        agent(c, Stores::memory(), studio)
    });
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            // Formats declare their assets and renders; a size filter narrows them.
            let (err, all) = alice.call("list_creative_formats", json!({})).await;
            assert!(!err, "{all}");
            let medrec = all["formats"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["format_id"]["id"] == "display_300x250")
                .expect("the medium rectangle");
            let ids: Vec<&str> = medrec["assets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["asset_id"].as_str())
                .collect();
            assert_eq!(ids, ["image", "headline", "cta", "click_url"], "{medrec}");
            assert_eq!(
                medrec["renders"][0]["dimensions"]["width"].as_f64(),
                Some(300.0),
                "{medrec}"
            );
            let (_, small) = alice
                .call(
                    "list_creative_formats",
                    json!({"type": "display", "max_width": 728, "max_height": 90}),
                )
                .await;
            let small: Vec<&str> = small["formats"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["format_id"]["id"].as_str())
                .collect();
            assert_eq!(small, ["display_728x90", "display_320x50"]);

            // A preview by URL.
            let (err, preview) = alice
                .call(
                    "preview_creative",
                    json!({"request_type": "single", "creative_manifest": manifest("display_300x250", 300, 250),
                           "output_format": "url"}),
                )
                .await;
            assert!(!err, "{preview}");
            assert!(preview["previews"][0]["renders"][0]["preview_url"].is_string(), "{preview}");

            // One format: its tag. Several: a manifest each, from a larger master image.
            let (err, one) = alice
                .call("build_creative", build(&target("display_300x250"), &manifest("display_300x250", 300, 250)))
                .await;
            assert!(!err, "{one}");
            assert_eq!(one["creative_manifest"]["assets"]["tag"]["asset_type"], "html", "{one}");
            let mut several = build(&Value::Null, &manifest("source_master", 1200, 628));
            several["target_format_ids"] = json!([target("display_300x250"), target("display_728x90")]);
            several.as_object_mut().map(|m| m.remove("target_format_id"));
            let (err, many) = alice.call("build_creative", several).await;
            assert!(!err, "{many}");
            assert_eq!(many["creative_manifests"].as_array().map(Vec::len), Some(2), "{many}");

            // Refused on the asset at fault, the context echoed.
            let mut no_image = manifest("display_300x250", 300, 250);
            no_image["assets"].as_object_mut().map(|a| a.remove("image"));
            let (err, e) = alice
                .call("build_creative", build(&target("display_300x250"), &no_image))
                .await;
            assert!(err, "{e}");
            assert_eq!(e["errors"][0]["field"], "creative_manifest.assets.image", "{e}");
            assert_eq!(e["context"]["correlation_id"], "c-3", "{e}");
            let (_, tiny) = alice
                .call("build_creative", build(&target("display_300x250"), &manifest("display_300x250", 150, 125)))
                .await;
            assert_eq!(tiny["errors"][0]["field"], "creative_manifest.assets.image.width", "{tiny}");
            let (_, nowhere) = alice
                .call("build_creative", build(&target("display_999x1"), &manifest("display_300x250", 300, 250)))
                .await;
            assert_eq!(nowhere["errors"][0]["field"], "target_format_id", "{nowhere}");

            // The library: a format the studio does not take fails that creative only.
            let account = json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "agency.example"});
            for who in [&alice, &bob] {
                let mut a = account.clone();
                a["billing"] = json!("operator");
                let (err, opened) = who
                    .call("sync_accounts", json!({"idempotency_key": key(), "accounts": [a]}))
                    .await;
                assert!(!err, "{opened}");
            }
            let (err, synced) = alice
                .call(
                    "sync_creatives",
                    json!({"idempotency_key": key(), "account": account, "creatives": [
                        {"creative_id": "trail_video", "name": "Trail 30s", "format_id": target("video_30s"),
                         "assets": {"video": {"asset_type": "video", "url": "https://cdn.example/trail.mp4",
                                              "width": 1920, "height": 1080, "duration_ms": 30000}}},
                        {"creative_id": "native_card", "name": "Card", "format_id": target("native_content"),
                         "assets": {}}]}),
                )
                .await;
            assert!(!err, "{synced}");
            assert_eq!(
                (synced["creatives"][0]["action"].clone(), synced["creatives"][1]["action"].clone()),
                (json!("created"), json!("failed")),
                "{synced}"
            );
            let (_, listed) = alice
                .call(
                    "list_creatives",
                    json!({"account": account, "filters": {"format_ids": [target("video_30s")]}}),
                )
                .await;
            assert_eq!(listed["query_summary"]["total_matching"], 1, "{listed}");

            // A VAST tag of the library's video, built here.
            let (err, vast) = alice
                .call(
                    "build_creative",
                    json!({"idempotency_key": key(), "account": account, "creative_id": "trail_video",
                           "target_format_id": target("vast_30s")}),
                )
                .await;
            assert!(!err, "{vast}");
            let xml = vast["creative_manifest"]["assets"]["vast"]["content"].as_str().unwrap_or_default();
            assert!(xml.starts_with("<VAST version=\"4.2\">") && xml.contains("https://cdn.example/trail.mp4"), "{vast}");

            // Another buyer cannot build from it.
            let (err, theirs) = bob
                .call(
                    "build_creative",
                    json!({"idempotency_key": key(), "account": account, "creative_id": "trail_video",
                           "target_format_id": target("vast_30s")}),
                )
                .await;
            assert!(err, "{theirs}");
            assert_eq!(theirs["errors"][0]["code"], "CREATIVE_NOT_FOUND", "{theirs}");

            // A studio still rendering: the build is handed off, and the task follows the render
            // to its tag.
            let (err, submitted) = patient
                .call("build_creative", build(&target("display_300x250"), &manifest("display_300x250", 300, 250)))
                .await;
            assert!(!err, "{submitted}");
            assert_eq!(submitted["status"], "submitted", "{submitted}");
            let task = submitted["task_id"].as_str().expect("a task").to_owned();
            let done = finished(&patient, &task).await;
            assert_eq!(done["status"], "completed", "{done}");
            assert_eq!(
                done["result"]["creative_manifest"]["assets"]["tag"]["asset_type"],
                "html",
                "{done}"
            );
        });
}
