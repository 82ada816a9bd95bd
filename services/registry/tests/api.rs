//! The registry over HTTP, on a real Postgres (fresh database per test) and on SQLite: auth,
//! bad inputs, uploads and downloads, numbering under concurrency, aliases and their audit log,
//! runs, the watch stream, metrics, and the committed OpenAPI document.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use common::{
    BACKENDS, Database, MAX_ARTIFACT, Registry, artifact, doc, metadata, model, on_each_backend,
    token, token_at, upload,
};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use velocast_auth::Scope;
use velocast_registry_api::{CreateModel, CreateRun, EndStatus, NewMetric};
use velocast_registry_client::{ClientError, RegistryClient, Upload, sha256_hex};

/// Sends a bodiless request with the client's token.
async fn send(client: &RegistryClient, method: Method, path: &str) -> reqwest::Response {
    client.raw(method, path).send().await.unwrap()
}

/// As [`send`]: the status and the JSON body.
async fn call(client: &RegistryClient, method: Method, path: &str) -> (StatusCode, Value) {
    error_body(send(client, method, path).await).await
}

async fn error_body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn api_status(error: &ClientError) -> (u16, String, Option<String>) {
    match error {
        ClientError::Api {
            status,
            error_type,
            field,
            ..
        } => (*status, error_type.clone(), field.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn every_auth_case_is_answered_with_the_right_status() {
    on_each_backend(async |_, registry| {
        let http = reqwest::Client::new();

        // Public routes need no token.
        for path in [
            "/health/live",
            "/health/ready",
            "/metrics",
            "/openapi.json",
            "/docs",
        ] {
            let response = http.get(registry.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }

        let cases: Vec<(&str, Option<String>, &str)> = vec![
            ("no token", None, "missing_token"),
            ("not bearer", Some("Basic abc".into()), "malformed_token"),
            (
                "garbage",
                Some("Bearer not.a.jwt".into()),
                "malformed_token",
            ),
            (
                "other key",
                Some(format!(
                    "Bearer {}",
                    token_at(&[Scope::MODELS_READ], SystemTime::now(), &"x".repeat(40))
                )),
                "bad_signature",
            ),
            (
                "expired",
                Some(format!(
                    "Bearer {}",
                    token_at(
                        &[Scope::MODELS_READ],
                        SystemTime::now() - Duration::from_secs(3600),
                        common::SECRET
                    )
                )),
                "token_expired",
            ),
        ];
        for (what, header, code) in cases {
            let mut request = http.get(registry.url("/v1/models"));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{what}"
            );
            let (status, body) = error_body(response).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(body["error_type"], code, "{what}: {body}");
        }

        // Deny by default: an unknown route without a token is a 401, with one a JSON 404.
        let (status, _) =
            error_body(http.get(registry.url("/v1/nowhere")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = error_body(
            http.get(registry.url("/v1/nowhere"))
                .bearer_auth(token(&[Scope::MODELS_READ]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["error_type"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );

        // Scopes: read cannot write, write cannot move aliases; 403 names the scope.
        let reader = registry.client(&[Scope::MODELS_READ]);
        let writer = registry.client(&[Scope::MODELS_READ, Scope::MODELS_WRITE]);
        let admin = registry.admin();
        let error = reader.create_model(&model("bikes")).await.unwrap_err();
        assert_eq!(
            api_status(&error),
            (403, "missing_scope".into(), Some("scope".into()))
        );
        assert!(error.to_string().contains("models:write"), "{error}");
        writer.create_model(&model("bikes")).await.unwrap();
        let version = upload(&writer, "bikes", &artifact(11, 0)).await;
        let error = writer
            .set_alias("bikes", "champion", version.version, "go")
            .await
            .unwrap_err();
        assert_eq!(api_status(&error).0, 403);
        assert!(
            reader.audit("bikes").await.unwrap().moves.is_empty(),
            "nothing moved"
        );
        admin
            .set_alias("bikes", "champion", version.version, "go")
            .await
            .unwrap();
        let error = send(&writer, Method::DELETE, "/v1/models/bikes/versions/1").await;
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        // A token without any registry scope reads nothing.
        let outsider = registry.client(&[Scope::PREDICT]);
        assert_eq!(
            api_status(&outsider.list_models(None).await.unwrap_err()).0,
            403
        );
    })
    .await;
}

#[tokio::test]
async fn bad_inputs_get_4xx_naming_field_and_rule_and_store_nothing() {
    on_each_backend(async |backend, registry| {
        let admin = registry.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        let post = |path: &str, body: &'static str, content_type: &'static str| {
            admin
                .raw(Method::POST, path)
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let cases = [
            (
                "/v1/models",
                "{\"name\": ",
                "application/json",
                400,
                "malformed_json",
                "body",
            ),
            (
                "/v1/models",
                "{\"name\": \"a\", \"owner\": 1}",
                "application/json",
                422,
                "invalid_field",
                "owner",
            ),
            (
                "/v1/models",
                "{\"name\": 5}",
                "application/json",
                422,
                "invalid_field",
                "name",
            ),
            (
                "/v1/models",
                "{\"description\": \"x\"}",
                "application/json",
                422,
                "invalid_field",
                "name",
            ),
            (
                "/v1/models",
                "{\"name\": \"Bad Name\"}",
                "application/json",
                400,
                "invalid_value",
                "name",
            ),
            (
                "/v1/models",
                "{\"name\": \"ok\"}",
                "text/plain",
                415,
                "unsupported_media_type",
                "content-type",
            ),
            (
                "/v1/runs",
                "{\"model\": \"bikes\", \"id\": \"has space\"}",
                "application/json",
                422,
                "validation_failed",
                "id",
            ),
            (
                "/v1/runs",
                "{\"model\": \"../etc\"}",
                "application/json",
                400,
                "invalid_value",
                "model",
            ),
        ];
        for (path, body, content_type, status, code, field) in cases {
            let (got, error) = error_body(post(path, body, content_type).await.unwrap()).await;
            assert_eq!(got.as_u16(), status, "{backend:?} {body}: {error}");
            assert_eq!(error["error_type"], code, "{backend:?} {body}: {error}");
            assert_eq!(error["field"], field, "{backend:?} {body}: {error}");
            assert!(!error["error"].as_str().unwrap().is_empty());
        }
        // Oversized JSON body.
        let big = format!(
            "{{\"name\": \"x\", \"description\": \"{}\"}}",
            "d".repeat(100_000)
        );
        let response = admin
            .raw(Method::POST, "/v1/models")
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
        let (status, error) = error_body(response).await;
        assert_eq!(
            (status.as_u16(), error["error_type"].as_str()),
            (413, Some("payload_too_large"))
        );
        // Bad names in paths.
        for path in ["/v1/models/Bikes", "/v1/models/bikes/versions/0"] {
            let (status, error) = call(&admin, Method::GET, path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
            assert!(error["field"].is_string(), "{path}: {error}");
        }
        // `latest` is a valid name by the documented pattern but reserved: no alias has it.
        let (status, error) = call(&admin, Method::GET, "/v1/models/bikes/aliases/latest").await;
        assert_eq!(
            (
                status,
                error["error_type"].as_str(),
                error["field"].as_str()
            ),
            (
                StatusCode::NOT_FOUND,
                Some("alias_not_found"),
                Some("alias")
            )
        );
        // Bad filters.
        let (status, error) = call(
            &admin,
            Method::GET,
            "/v1/models/bikes/versions?metric=mae~3",
        )
        .await;
        assert_eq!(
            (status.as_u16(), error["field"].as_str()),
            (400, Some("metric"))
        );
        let (status, _) = call(&admin, Method::GET, "/v1/models?colour=red").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unknown query parameter");

        // Uploads: oversized artifact, missing part, bad metadata, wrong digests.
        let huge = artifact(1, MAX_ARTIFACT + 1);
        let error = admin
            .upload_version(
                "bikes",
                metadata(),
                Upload {
                    artifact: &huge,
                    profile: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (413, "payload_too_large".into(), Some("artifact".into()))
        );
        let mut bad = metadata();
        bad.lineage.dataset_sha256 = "short".into();
        let error = admin
            .upload_version(
                "bikes",
                bad,
                Upload {
                    artifact: b"x",
                    profile: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (
                422,
                "validation_failed".into(),
                Some("lineage.dataset_sha256".into())
            )
        );
        let mut unknown = serde_json::to_value(metadata()).unwrap();
        unknown["colour"] = json!("red");
        let error = admin
            .upload_raw(
                "bikes",
                unknown.to_string().as_bytes(),
                Upload {
                    artifact: b"x",
                    profile: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (422, "invalid_field".into(), Some("colour".into()))
        );
        let bytes = artifact(2, 1000);
        let mut lying = metadata();
        lying.artifact_sha256 = sha256_hex(b"something else");
        let error = admin
            .upload_raw(
                "bikes",
                &serde_json::to_vec(&lying).unwrap(),
                Upload {
                    artifact: &bytes,
                    profile: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (
                422,
                "digest_mismatch".into(),
                Some("artifact_sha256".into())
            )
        );
        let mut lying_profile = metadata();
        lying_profile.artifact_sha256 = sha256_hex(&bytes);
        lying_profile.profile_sha256 = Some(sha256_hex(b"another profile"));
        let error = admin
            .upload_raw(
                "bikes",
                &serde_json::to_vec(&lying_profile).unwrap(),
                Upload {
                    artifact: &bytes,
                    profile: Some(b"{}"),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (422, "digest_mismatch".into(), Some("profile_sha256".into()))
        );
        let unknown_run = velocast_registry_api::NewVersionMetadata {
            run_id: Some("no-such-run".into()),
            ..metadata()
        };
        let error = admin
            .upload_version(
                "bikes",
                unknown_run,
                Upload {
                    artifact: &bytes,
                    profile: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(api_status(&error).0, 404);
        let missing = admin
            .raw(Method::POST, "/v1/models/bikes/versions")
            .multipart(reqwest::multipart::Form::new().text("metadata", "{}"))
            .send()
            .await
            .unwrap();
        let (status, error) = error_body(missing).await;
        assert_eq!(status.as_u16(), 422, "{error}");

        // None of it stored anything; a duplicate model is a 409 that changes nothing.
        let stored = admin.get_model("bikes").await.unwrap();
        assert_eq!(stored.latest_version, None, "{backend:?}");
        let none = admin.get_version("bikes", "latest").await.unwrap_err();
        assert_eq!(api_status(&none).0, 404);
        assert!(none.to_string().contains("has no versions yet"), "{none}");
        assert!(
            admin
                .list_versions("bikes", &[])
                .await
                .unwrap()
                .versions
                .is_empty()
        );
        assert_eq!(admin.list_models(None).await.unwrap().models.len(), 1);
        let error = admin
            .create_model(&CreateModel {
                description: "overwritten?".into(),
                ..model("bikes")
            })
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (409, "model_exists".into(), Some("name".into()))
        );
        assert_eq!(
            admin.get_model("bikes").await.unwrap().description,
            "hourly demand"
        );
    })
    .await;
}

#[tokio::test]
async fn versions_upload_download_search_and_delete() {
    on_each_backend(async |backend, registry| {
        let admin = registry.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        let first = artifact(3, 150_000);
        let profile = br#"{"features": {"hr": [0, 1, 2]}}"#;
        let v1 = admin
            .upload_version(
                "bikes",
                metadata(),
                Upload {
                    artifact: &first,
                    profile: Some(profile),
                },
            )
            .await
            .unwrap();
        assert_eq!((v1.version, v1.artifact.size), (1, first.len() as u64));
        assert_eq!(v1.artifact.sha256, sha256_hex(&first));
        assert_eq!(v1.created_by, "tester");
        assert_eq!(v1.metadata["lineage"]["dataset_rows"], 17379);
        let second = artifact(4, 1000);
        let mut better = metadata();
        better.metrics.insert("holdout_mae".into(), 35.0);
        better.tags.insert("stage".into(), "prod".into());
        admin
            .upload_version(
                "bikes",
                better,
                Upload {
                    artifact: &second,
                    profile: None,
                },
            )
            .await
            .unwrap();

        // Reads by number, alias and `latest`; the full card comes with single reads only.
        assert_eq!(
            admin.get_version("bikes", "latest").await.unwrap().version,
            2
        );
        assert_eq!(
            admin.get_version("bikes", "1").await.unwrap().metadata["card"]["title"],
            "test"
        );
        admin
            .set_alias("bikes", "champion", 1, "first")
            .await
            .unwrap();
        assert_eq!(
            admin
                .get_version("bikes", "champion")
                .await
                .unwrap()
                .version,
            1
        );
        let listed = admin.list_versions("bikes", &[]).await.unwrap().versions;
        assert_eq!(listed.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
        assert!(listed[0].metadata.get("card").is_none());

        // Search by metric, tag and alias.
        let found = |query: Vec<(&'static str, &'static str)>| {
            let admin = admin.clone();
            async move {
                admin
                    .list_versions("bikes", &query)
                    .await
                    .unwrap()
                    .versions
                    .iter()
                    .map(|v| v.version)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(found(vec![("metric", "holdout_mae<36")]).await, [2]);
        assert_eq!(
            found(vec![("metric", "holdout_mae>=35,holdout_r2>0.9")]).await,
            [1, 2]
        );
        assert_eq!(found(vec![("tag", "stage:prod")]).await, [2]);
        assert_eq!(found(vec![("tag", "stage:test")]).await, [1]);
        assert_eq!(found(vec![("alias", "champion")]).await, [1]);
        assert_eq!(
            found(vec![("alias", "champion"), ("tag", "stage:prod")]).await,
            Vec::<u32>::new()
        );
        assert!(found(vec![("alias", "nobody")]).await.is_empty());
        let models = admin.list_models(Some("team:ops")).await.unwrap().models;
        assert_eq!(models.len(), 1);
        assert!(
            admin
                .list_models(Some("team:data"))
                .await
                .unwrap()
                .models
                .is_empty()
        );

        // Downloads: verified bytes, digest headers, ranges, conditional requests.
        let (digest, bytes) = admin.download_artifact("bikes", "champion").await.unwrap();
        assert_eq!(
            (digest.as_str(), bytes.as_slice()),
            (v1.artifact.sha256.as_str(), first.as_slice())
        );
        let path = "/v1/models/bikes/versions/1/artifact";
        let whole = send(&admin, Method::GET, path).await;
        let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{}\"", v1.artifact.sha256));
        assert!(
            whole.headers()["repr-digest"]
                .to_str()
                .unwrap()
                .starts_with("sha-256=:")
        );
        assert_eq!(whole.headers()["accept-ranges"], "bytes");
        let part = admin
            .raw(Method::GET, path)
            .header("range", "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            part.headers()["content-range"].to_str().unwrap(),
            format!("bytes 100-199/{}", first.len())
        );
        assert_eq!(part.bytes().await.unwrap().as_ref(), &first[100..200]);
        let tail = admin
            .raw(Method::GET, path)
            .header("range", "bytes=-10")
            .send()
            .await
            .unwrap();
        assert_eq!(
            tail.bytes().await.unwrap().as_ref(),
            &first[first.len() - 10..]
        );
        let beyond = admin
            .raw(Method::GET, path)
            .header("range", format!("bytes={}-", first.len()))
            .send()
            .await
            .unwrap();
        assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        let cached = admin
            .raw(Method::GET, path)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        let profile_back = send(&admin, Method::GET, "/v1/models/bikes/versions/1/profile")
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(profile_back.as_ref(), profile);
        let no_profile = send(&admin, Method::GET, "/v1/models/bikes/versions/2/profile").await;
        assert_eq!(no_profile.status(), StatusCode::NOT_FOUND);

        // Deletes: refused while an alias points at the version; numbers are never reused.
        let in_use = send(&admin, Method::DELETE, "/v1/models/bikes/versions/1").await;
        let (status, error) = error_body(in_use).await;
        assert_eq!(
            (status.as_u16(), error["error_type"].as_str()),
            (409, Some("version_in_use"))
        );
        assert_eq!(
            admin.download_artifact("bikes", "1").await.unwrap().1,
            first
        );
        let deleted = send(&admin, Method::DELETE, "/v1/models/bikes/versions/2").await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            api_status(&admin.get_version("bikes", "2").await.unwrap_err()).0,
            404
        );
        let v3 = upload(&admin, "bikes", &second).await;
        assert_eq!(
            v3.version, 3,
            "{backend:?}: a deleted number is not handed out again"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_over_http_get_gapless_unique_numbers() {
    on_each_backend(async |backend, registry| {
        let admin = registry.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(12));
        let uploads: Vec<_> = (0..12u8)
            .map(|i| {
                let admin = admin.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let bytes = artifact(i, 20_000 + usize::from(i));
                    barrier.wait().await;
                    let version = upload(&admin, "bikes", &bytes).await;
                    (version.version, bytes)
                })
            })
            .collect();
        let mut numbers = Vec::new();
        for upload in uploads {
            let (number, bytes) = upload.await.unwrap();
            // Each number holds the bytes of the upload that got it.
            let (_, stored) = admin
                .download_artifact("bikes", &number.to_string())
                .await
                .unwrap();
            assert_eq!(stored, bytes);
            numbers.push(number);
        }
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=12).collect::<Vec<u32>>(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn alias_moves_are_audited_and_conflicts_change_nothing() {
    on_each_backend(async |backend, registry| {
        let admin = registry.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        for seed in 0..2 {
            admin
                .upload_version(
                    "bikes",
                    metadata(),
                    Upload {
                        artifact: &artifact(seed, 64),
                        profile: None,
                    },
                )
                .await
                .unwrap();
        }
        admin
            .set_alias("bikes", "champion", 1, "first model")
            .await
            .unwrap();
        let moved = admin
            .set_alias("bikes", "champion", 2, "better MAE")
            .await
            .unwrap();
        assert_eq!((moved.from, moved.to), (Some(1), Some(2)));
        let error = admin
            .set_alias("bikes", "champion", 9, "no such")
            .await
            .unwrap_err();
        assert_eq!(api_status(&error).0, 404);
        let error = admin
            .set_alias("bikes", "latest", 1, "reserved")
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&error),
            (409, "alias_reserved".into(), Some("alias".into()))
        );
        let response = admin
            .raw(Method::PUT, "/v1/models/bikes/aliases/challenger")
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap();
        let (status, error) = error_body(response).await;
        assert_eq!(
            (status.as_u16(), error["field"].as_str()),
            (422, Some("reason")),
            "{error}"
        );
        assert_eq!(
            admin.get_model("bikes").await.unwrap().aliases.unwrap()["champion"],
            2
        );
        let deleted = admin
            .raw(
                Method::DELETE,
                "/v1/models/bikes/aliases/champion?reason=rollback",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::OK);
        let gone = send(&admin, Method::GET, "/v1/models/bikes/aliases/champion").await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        let audit = admin.audit("bikes").await.unwrap().moves;
        let chain: Vec<_> = audit
            .iter()
            .map(|m| (m.from, m.to, m.reason.as_str(), m.actor.as_str()))
            .collect();
        assert_eq!(
            chain,
            [
                (None, Some(1), "first model", "tester"),
                (Some(1), Some(2), "better MAE", "tester"),
                (Some(2), None, "rollback", "tester"),
            ],
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn runs_record_params_metrics_status_and_versions() {
    on_each_backend(async |_, registry| {
        let admin = registry.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        let run = admin
            .create_run(&CreateRun {
                id: None,
                model: "bikes".into(),
                params: doc(json!({"trials": 40})),
            })
            .await
            .unwrap();
        assert_eq!(run.status, "running");
        let metrics = (0..5)
            .map(|fold| NewMetric {
                key: "cv_mae".into(),
                step: fold,
                value: 40.0 - fold as f64,
            })
            .collect();
        admin.log_metrics(&run.id, metrics).await.unwrap();
        let with_run = velocast_registry_api::NewVersionMetadata {
            run_id: Some(run.id.clone()),
            ..metadata()
        };
        admin
            .upload_version(
                "bikes",
                with_run,
                Upload {
                    artifact: &artifact(40, 0),
                    profile: None,
                },
            )
            .await
            .unwrap();
        let ended = admin.end_run(&run.id, EndStatus::Finished).await.unwrap();
        assert_eq!(ended.status, "finished");
        assert!(ended.ended_at_ms.is_some());
        assert_eq!(ended.metrics.len(), 5);
        assert_eq!(ended.metrics[4].value, 36.0);
        assert_eq!(ended.versions, [1]);
        assert_eq!(ended.params["trials"], 40);
        let late = admin
            .log_metrics(
                &run.id,
                vec![NewMetric {
                    key: "x".into(),
                    step: 0,
                    value: 1.0,
                }],
            )
            .await
            .unwrap_err();
        assert_eq!(
            api_status(&late),
            (409, "run_closed".into(), Some("run".into()))
        );
        let again = admin.end_run(&run.id, EndStatus::Failed).await.unwrap_err();
        assert_eq!(api_status(&again).0, 409);
        assert_eq!(admin.get_run(&run.id).await.unwrap().status, "finished");
        let listed: Value = send(&admin, Method::GET, "/v1/runs?model=bikes")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["runs"][0]["id"], run.id.as_str());
        let count = |query: &'static str| {
            let admin = admin.clone();
            async move {
                let body: Value = send(&admin, Method::GET, &format!("/v1/runs?{query}"))
                    .await
                    .json()
                    .await
                    .unwrap();
                body["runs"].as_array().map(Vec::len)
            }
        };
        assert_eq!(count("status=finished").await, Some(1));
        assert_eq!(count("status=running").await, Some(0));
        assert_eq!(count("status=finished&model=other").await, Some(0));
        assert_eq!(
            count("status=paused").await,
            None,
            "an unknown status is a 400"
        );
        let duplicate = admin
            .create_run(&CreateRun {
                id: Some(run.id.clone()),
                model: "bikes".into(),
                params: doc(json!({})),
            })
            .await
            .unwrap_err();
        assert_eq!(api_status(&duplicate).0, 409);
    })
    .await;
}

/// Reads server-sent events until one of `kind` arrives; returns its data.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    kind: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if event == Some(kind) {
                return serde_json::from_str(data.unwrap_or("null")).unwrap();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` event"))
            .expect("stream ended")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn open_watch(
    client: &RegistryClient,
    query: &str,
) -> (
    impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    String,
) {
    let response = send(client, Method::GET, &format!("/v1/watch{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = Box::pin(response.bytes_stream());
    let mut buffer = String::new();
    next_event(&mut stream, &mut buffer, "ready").await;
    (stream, buffer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_hear_of_alias_moves_made_through_any_replica() {
    for backend in BACKENDS {
        let database = Database::fresh(backend).await;
        let writer_side = Registry::start(&database.url).await;
        // On Postgres a second replica on the same database hears the first one's writes
        // through LISTEN/NOTIFY; on SQLite (one process by design) the same replica does.
        let watcher_side = match backend {
            common::Backend::Postgres => Some(Registry::start(&database.url).await),
            common::Backend::Sqlite => None,
        };
        let watched = watcher_side.as_ref().unwrap_or(&writer_side);
        let admin = writer_side.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        admin.create_model(&model("other")).await.unwrap();
        if backend == common::Backend::Postgres {
            // Events committed before the replica's listener is up reach its watchers only as
            // a `resync`; this test wants the events themselves.
            common::wait_for_relay(watched, true).await;
        }
        let reader = watched.client(&[Scope::MODELS_READ]);
        let (mut stream, mut buffer) = open_watch(&reader, "?model=bikes").await;
        upload(&admin, "other", &artifact(12, 0)).await;
        upload(&admin, "bikes", &artifact(13, 0)).await;
        let created = next_event(&mut stream, &mut buffer, "version_created").await;
        assert_eq!(
            (created["model"].as_str(), created["version"].as_u64()),
            (Some("bikes"), Some(1)),
            "{backend:?}: filtered to the model"
        );
        admin
            .set_alias("bikes", "champion", 1, "ship it")
            .await
            .unwrap();
        let moved = next_event(&mut stream, &mut buffer, "alias_moved").await;
        assert_eq!(moved["alias"], "champion");
        assert_eq!(moved["to"], 1);
        assert_eq!(moved["from"], Value::Null);
        assert_eq!(moved["actor"], "tester");

        // Watching an unknown model is a 404, not an empty stream.
        let missing = send(&reader, Method::GET, "/v1/watch?model=nope").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);

        // Shutdown ends open streams instead of waiting on them.
        drop(stream);
        let (mut stream, _) = open_watch(&reader, "").await;
        if let Some(other) = watcher_side {
            other.stop().await.unwrap();
        } else {
            writer_side.stop().await.unwrap();
            let rest = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
            assert!(rest.is_ok(), "the stream ended with the service");
            database.drop().await;
            continue;
        }
        writer_side.stop().await.unwrap();
        database.drop().await;
    }
}

#[tokio::test]
async fn health_metrics_and_restart_keep_everything_acknowledged() {
    for backend in BACKENDS {
        let database = Database::fresh(backend).await;
        let registry = Registry::start(&database.url).await;
        let admin = registry.admin();
        admin.create_model(&model("bikes")).await.unwrap();
        let bytes = artifact(9, 50_000);
        admin
            .upload_version(
                "bikes",
                metadata(),
                Upload {
                    artifact: &bytes,
                    profile: Some(b"{}"),
                },
            )
            .await
            .unwrap();
        admin
            .set_alias("bikes", "champion", 1, "restart test")
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let ready: Value = http
            .get(registry.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready, json!({"status": "ready", "database": "up"}));
        // Every response carries a request id: the caller's, or a new one.
        let echoed = http
            .get(registry.url("/health/live"))
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .unwrap();
        assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
        let fresh = http.get(registry.url("/health/live")).send().await.unwrap();
        assert_eq!(fresh.headers()["x-request-id"].len(), 36, "a UUID");
        let metrics = http
            .get(registry.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(r#"velocast_http_requests_total{method="POST",route="/v1/models/{model}/versions",status_class="2xx"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"velocast_registry_writes_total{kind="alias"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("velocast_registry_database_up 1"),
            "{metrics}"
        );
        registry.stop().await.unwrap();

        // A new process on the same database sees everything that was acknowledged.
        let restarted = Registry::start(&database.url).await;
        let admin = restarted.admin();
        assert_eq!(
            admin
                .get_version("bikes", "champion")
                .await
                .unwrap()
                .version,
            1
        );
        assert_eq!(
            admin.download_artifact("bikes", "1").await.unwrap().1,
            bytes
        );
        assert_eq!(admin.audit("bikes").await.unwrap().moves.len(), 1);
        restarted.stop().await.unwrap();
        database.drop().await;
    }
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = velocast_registry::api::openapi_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "services/registry/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p velocast-registry --test api openapi` and commit it"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/v1/models",
        "/v1/models/{model}/versions/{version}/artifact",
        "/v1/watch",
        "/health/ready",
    ] {
        assert!(document["paths"][path].is_object(), "{path} documented");
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn models_can_be_updated_and_deleted_only_while_empty() {
    on_each_backend(async |backend, registry| {
        let admin = registry.admin();
        admin.create_model(&model("typo")).await.unwrap();
        admin.create_model(&model("bikes")).await.unwrap();
        let patched: Value = admin
            .raw(Method::PATCH, "/v1/models/bikes")
            .json(&json!({"description": "new words"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(patched["description"], "new words");
        assert_eq!(patched["tags"]["team"], "ops", "absent fields stay");
        let retagged = admin
            .raw(Method::PATCH, "/v1/models/bikes")
            .json(&json!({"tags": {"team": "data"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(retagged.status(), StatusCode::OK);
        assert_eq!(admin.get_model("bikes").await.unwrap().tags["team"], "data");
        let reader = registry.client(&[Scope::MODELS_READ, Scope::MODELS_WRITE]);
        let refused = send(&reader, Method::DELETE, "/v1/models/typo").await;
        assert_eq!(
            refused.status(),
            StatusCode::FORBIDDEN,
            "deletes need models:admin"
        );
        let deleted = send(&admin, Method::DELETE, "/v1/models/typo").await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            api_status(&admin.get_model("typo").await.unwrap_err()).0,
            404
        );

        upload(&admin, "bikes", &artifact(14, 0)).await;
        let (status, error) = call(&admin, Method::DELETE, "/v1/models/bikes").await;
        assert_eq!(
            (status.as_u16(), error["error_type"].as_str()),
            (409, Some("model_in_use"))
        );
        assert_eq!(
            admin.get_version("bikes", "1").await.unwrap().version,
            1,
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_watch_outlives_the_request_timeout() {
    let database = Database::fresh(common::Backend::Sqlite).await;
    let config = velocast_registry::RegistryConfig {
        request_timeout_seconds: 1,
        ..common::config(&database.url)
    };
    let registry = Registry::start_with(config).await;
    let admin = registry.admin();
    admin.create_model(&model("bikes")).await.unwrap();
    upload(&admin, "bikes", &artifact(15, 0)).await;
    let (mut stream, mut buffer) = open_watch(&admin, "?model=bikes").await;
    // Longer than the timeout, which bounds the time to a response head, not a stream's life.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    admin
        .set_alias("bikes", "champion", 1, "late")
        .await
        .unwrap();
    let moved = next_event(&mut stream, &mut buffer, "alias_moved").await;
    assert_eq!(moved["to"], 1);
    registry.stop().await.unwrap();
    database.drop().await;
}
