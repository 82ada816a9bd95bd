//! The store on a real Postgres (a fresh database per test) and on SQLite (a fresh file).

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use velocast_catalog::{Digest, ModelName, VersionNumber};
use velocast_registry_store::{
    Document, NewVersion, Store, StoreError, Tags, VersionMetadata, sha256,
};

/// Version metadata whose parameters are `params` (the tests tag uploads through them).
fn meta(params: serde_json::Value) -> VersionMetadata {
    VersionMetadata {
        params: doc(params),
        ..VersionMetadata::default()
    }
}

fn doc(value: serde_json::Value) -> Document {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const LIMIT: usize = 4 * 1024 * 1024;

use velocast_registry_store::testing::{create_database, postgres_admin_url};

/// A fresh store on each backend; the guard drops the Postgres database afterwards.
async fn stores() -> Vec<(Store, Option<String>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::connect(
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("registry.db").display()
        ),
        4,
        LIMIT,
    )
    .await
    .unwrap();
    let admin = postgres_admin_url();
    let (database, url) = create_database(&admin)
        .await
        .unwrap_or_else(|e| panic!("Postgres at {admin}: {e}"));
    let postgres = Store::connect(&url, 8, LIMIT).await.unwrap();
    vec![
        (postgres, Some(database), tempfile::tempdir().unwrap()),
        (sqlite, None, dir),
    ]
}

async fn drop_database(database: Option<String>) {
    if let Some(database) = database {
        velocast_registry_store::testing::drop_database(&postgres_admin_url(), &database).await;
    }
}

fn name(text: &str) -> ModelName {
    text.parse().unwrap()
}

fn upload<'a>(
    model: &'a ModelName,
    bytes: &'a [u8],
    digest: &'a Digest,
    metadata: &'a VersionMetadata,
) -> NewVersion<'a> {
    NewVersion {
        model,
        artifact: bytes,
        declared_digest: digest,
        profile: None,
        metadata,
        run_id: None,
        created_by: "trainer",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_get_gapless_unique_version_numbers() {
    for (store, database, _dir) in stores().await {
        let model = name("bike-demand");
        store
            .create_model(&model, "hourly demand", &tags(&[("team", "ops")]), "alice")
            .await
            .unwrap();
        // All tasks start together, so their transactions really overlap.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                let model = model.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let bytes = format!("artifact {i}").into_bytes();
                    let digest = sha256(&bytes);
                    let metadata = meta(json!({"i": i}));
                    store
                        .create_version(upload(&model, &bytes, &digest, &metadata))
                        .await
                        .map(|v| v.version.get())
                })
            })
            .collect();
        let mut numbers = Vec::new();
        for task in tasks {
            numbers.push(task.await.unwrap().unwrap());
        }
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (1..=16).collect::<Vec<u32>>(),
            "{:?}",
            store.backend()
        );
        let listed = store.list_versions(&model).await.unwrap();
        assert_eq!(listed.len(), 16);
        assert!(listed.windows(2).all(|w| w[0].version < w[1].version));
        // Each version's bytes come back verified and match its metadata.
        let v3 = store
            .get_version(&model, VersionNumber::try_from(3_u32).unwrap())
            .await
            .unwrap();
        let bytes = store.read_blob(&v3.artifact_digest).await.unwrap();
        let i = v3.metadata.params["i"].as_i64().unwrap();
        assert_eq!(bytes, format!("artifact {i}").into_bytes());
        drop_database(database).await;
    }
}

#[tokio::test]
async fn digest_mismatch_and_oversize_are_refused_and_store_nothing() {
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 0).await;
        let bytes = b"real bytes".to_vec();
        let wrong = sha256(b"other bytes");
        let error = store
            .create_version(upload(&model, &bytes, &wrong, &meta(json!({}))))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::DigestMismatch { .. }),
            "{error}"
        );
        let big = vec![0_u8; LIMIT + 1];
        let error = store
            .create_version(upload(&model, &big, &sha256(&big), &meta(json!({}))))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::TooLarge { .. }), "{error}");
        assert_eq!(store.blob_count().await.unwrap(), 0);
        // The counter did not move: the first good upload is version 1.
        let digest = sha256(&bytes);
        assert_eq!(
            store
                .create_version(upload(&model, &bytes, &digest, &meta(json!({}))))
                .await
                .unwrap()
                .version
                .get(),
            1
        );
        drop_database(database).await;
    }
}

#[tokio::test]
async fn an_upload_failing_midway_leaves_no_bytes_and_no_gap() {
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 0).await;
        let bytes = b"model bytes".to_vec();
        let digest = sha256(&bytes);
        let metadata = meta(json!({}));
        // The bytes are inserted, then the unknown run fails the transaction.
        let failing = NewVersion {
            run_id: Some("no-such-run"),
            ..upload(&model, &bytes, &digest, &metadata)
        };
        let error = store.create_version(failing).await.unwrap_err();
        assert!(matches!(error, StoreError::RunNotFound(_)), "{error}");
        assert_eq!(
            store.blob_count().await.unwrap(),
            0,
            "{:?}: orphaned bytes",
            store.backend()
        );
        store
            .create_run("run-1", &model, &Document::new(), "trainer")
            .await
            .unwrap();
        let ok = NewVersion {
            run_id: Some("run-1"),
            ..upload(&model, &bytes, &digest, &metadata)
        };
        let version = store.create_version(ok).await.unwrap();
        assert_eq!(version.version.get(), 1);
        assert_eq!(version.run_id.as_deref(), Some("run-1"));
        drop_database(database).await;
    }
}

#[tokio::test]
async fn models_are_unique_and_lookups_name_what_is_missing() {
    for (store, database, _dir) in stores().await {
        let model = name("bike-demand");
        let created = store
            .create_model(&model, "hourly", &tags(&[("k", "v")]), "alice")
            .await
            .unwrap();
        assert_eq!(
            (created.description.as_str(), created.tags["k"].as_str()),
            ("hourly", "v")
        );
        let error = store
            .create_model(&model, "again", &Tags::new(), "bob")
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::ModelExists(_)));
        assert_eq!(store.get_model(&model).await.unwrap().description, "hourly"); // unchanged
        assert!(matches!(
            store.get_model(&name("nope")).await,
            Err(StoreError::ModelNotFound(_))
        ));
        let missing = store
            .get_version(&model, VersionNumber::FIRST)
            .await
            .unwrap_err();
        assert!(matches!(
            missing,
            StoreError::VersionNotFound { version: 1, .. }
        ));
        let bytes = b"x".to_vec();
        let digest = sha256(&bytes);
        let unknown = name("unknown-model");
        assert!(matches!(
            store
                .create_version(upload(&unknown, &bytes, &digest, &meta(json!({}))))
                .await,
            Err(StoreError::ModelNotFound(_))
        ));
        assert!(store.ping().await);
        drop_database(database).await;
    }
}

#[tokio::test]
async fn same_bytes_in_two_versions_are_stored_once() {
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 0).await;
        let bytes = b"identical".to_vec();
        let digest = sha256(&bytes);
        for expected in 1..=2 {
            let v = store
                .create_version(upload(&model, &bytes, &digest, &meta(json!({}))))
                .await
                .unwrap();
            assert_eq!(v.version.get(), expected);
        }
        assert_eq!(store.blob_count().await.unwrap(), 1);
        drop_database(database).await;
    }
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(matches!(
        Store::connect("mysql://localhost/x", 1, LIMIT).await,
        Err(StoreError::UnsupportedUrl)
    ));
}

/// An audit entry as (alias, from, to, actor, reason).
type AuditRow<'a> = (&'a str, Option<u32>, Option<u32>, &'a str, &'a str);

fn alias(text: &str) -> velocast_catalog::AliasName {
    text.parse().unwrap()
}

fn v(n: u32) -> VersionNumber {
    VersionNumber::try_from(n).unwrap()
}

/// A model with `count` versions.
async fn model_with_versions(store: &Store, count: u32) -> ModelName {
    let model = name("bike-demand");
    store
        .create_model(&model, "", &Tags::new(), "alice")
        .await
        .unwrap();
    for i in 0..count {
        let bytes = format!("artifact {i}").into_bytes();
        let digest = sha256(&bytes);
        store
            .create_version(upload(&model, &bytes, &digest, &meta(json!({"i": i}))))
            .await
            .unwrap();
    }
    model
}

#[tokio::test]
async fn alias_moves_resolve_and_are_audited() {
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 3).await;
        let champion = alias("champion");
        let first = store
            .set_alias(&model, &champion, v(1), "alice", "first release")
            .await
            .unwrap();
        assert_eq!((first.from, first.to), (None, Some(v(1))));
        assert_eq!(
            store
                .resolve_alias(&model, &champion)
                .await
                .unwrap()
                .version,
            v(1)
        );
        let moved = store
            .set_alias(&model, &champion, v(3), "bob", "better holdout MAE")
            .await
            .unwrap();
        assert_eq!((moved.from, moved.to), (Some(v(1)), Some(v(3))));
        assert_eq!(
            store
                .resolve_alias(&model, &champion)
                .await
                .unwrap()
                .metadata
                .params["i"],
            2
        );
        store
            .set_alias(&model, &alias("challenger"), v(2), "bob", "A/B")
            .await
            .unwrap();
        let deleted = store
            .delete_alias(&model, &alias("challenger"), "carol", "test over")
            .await
            .unwrap();
        assert_eq!((deleted.from, deleted.to), (Some(v(2)), None));
        assert!(matches!(
            store.resolve_alias(&model, &alias("challenger")).await,
            Err(StoreError::AliasNotFound { .. })
        ));

        let audit = store.alias_audit(&model).await.unwrap();
        let summary: Vec<AuditRow<'_>> = audit
            .iter()
            .map(|m| {
                (
                    m.alias.as_str(),
                    m.from.map(VersionNumber::get),
                    m.to.map(VersionNumber::get),
                    m.actor.as_str(),
                    m.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("champion", None, Some(1), "alice", "first release"),
                ("champion", Some(1), Some(3), "bob", "better holdout MAE"),
                ("challenger", None, Some(2), "bob", "A/B"),
                ("challenger", Some(2), None, "carol", "test over"),
            ],
            "{:?}",
            store.backend()
        );
        drop_database(database).await;
    }
}

#[tokio::test]
async fn a_refused_alias_move_changes_nothing() {
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 2).await;
        let champion = alias("champion");
        store
            .set_alias(&model, &champion, v(2), "alice", "ok")
            .await
            .unwrap();
        let error = store
            .set_alias(&model, &champion, v(9), "mallory", "no such version")
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::VersionNotFound { version: 9, .. }),
            "{error}"
        );
        let error = store
            .delete_alias(&model, &alias("ghost"), "mallory", "nothing there")
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::AliasNotFound { .. }), "{error}");
        let error = store
            .set_alias(&name("other"), &champion, v(1), "mallory", "no model")
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::ModelNotFound(_)), "{error}");
        assert_eq!(
            store
                .resolve_alias(&model, &champion)
                .await
                .unwrap()
                .version,
            v(2)
        );
        assert_eq!(store.alias_audit(&model).await.unwrap().len(), 1);
        drop_database(database).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_alias_moves_form_an_unbroken_audit_chain() {
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 4).await;
        // All tasks start together, so their transactions really overlap.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(24));
        let tasks: Vec<_> = (0..24_u32)
            .map(|i| {
                let store = store.clone();
                let model = model.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .set_alias(
                            &model,
                            &alias("champion"),
                            v(1 + i % 4),
                            &format!("actor-{i}"),
                            "race",
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let audit = store.alias_audit(&model).await.unwrap();
        assert_eq!(audit.len(), 24);
        assert_eq!(audit[0].from, None);
        // Serialized moves: each one starts where the previous one ended.
        for pair in audit.windows(2) {
            assert_eq!(pair[1].from, pair[0].to, "{:?}", store.backend());
        }
        let last = audit.last().unwrap().to.unwrap();
        assert_eq!(
            store
                .resolve_alias(&model, &alias("champion"))
                .await
                .unwrap()
                .version,
            last
        );
        drop_database(database).await;
    }
}

#[tokio::test]
async fn a_run_logs_params_and_metrics_then_closes_and_lists_its_versions() {
    use velocast_registry_store::{Metric, RunStatus};
    for (store, database, _dir) in stores().await {
        let model = model_with_versions(&store, 0).await;
        let params = doc(json!({"search": {"trials": 50, "seed": 42}}));
        store
            .create_run("run-42", &model, &params, "trainer")
            .await
            .unwrap();
        assert!(matches!(
            store.create_run("run-42", &model, &params, "trainer").await,
            Err(StoreError::RunExists(_))
        ));
        assert!(matches!(
            store.create_run("run-x", &name("nope"), &params, "t").await,
            Err(StoreError::ModelNotFound(_))
        ));

        let fold = |step, value| Metric {
            key: "fold_mae".into(),
            step,
            value,
        };
        store
            .log_metrics("run-42", &[fold(0, 44.1), fold(1, 41.0), fold(2, 39.5)])
            .await
            .unwrap();
        store
            .log_metrics(
                "run-42",
                &[
                    fold(2, 39.25),
                    Metric {
                        key: "cv_mae".into(),
                        step: 0,
                        value: 41.45,
                    },
                ],
            )
            .await
            .unwrap();
        // A non-finite value refuses the whole batch.
        let error = store
            .log_metrics("run-42", &[fold(3, 1.0), fold(4, f64::NAN)])
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::BadMetric { step: 4, .. }),
            "{error}"
        );

        let bytes = b"onnx".to_vec();
        let digest = sha256(&bytes);
        let metadata = meta(json!({}));
        store
            .create_version(NewVersion {
                run_id: Some("run-42"),
                ..upload(&model, &bytes, &digest, &metadata)
            })
            .await
            .unwrap();
        store.end_run("run-42", RunStatus::Finished).await.unwrap();
        let closed = store
            .log_metrics("run-42", &[fold(5, 1.0)])
            .await
            .unwrap_err();
        assert!(
            matches!(
                closed,
                StoreError::RunClosed {
                    status: "finished",
                    ..
                }
            ),
            "{closed}"
        );
        assert!(matches!(
            store.end_run("run-42", RunStatus::Failed).await,
            Err(StoreError::RunClosed { .. })
        ));

        let run = store.get_run("run-42").await.unwrap();
        assert_eq!(run.status, RunStatus::Finished);
        assert_eq!(run.params, params);
        assert!(run.ended_at_ms.is_some());
        assert_eq!(run.versions, vec![v(1)]);
        let logged: Vec<(&str, i64, f64)> = run
            .metrics
            .iter()
            .map(|m| (m.key.as_str(), m.step, m.value))
            .collect();
        assert_eq!(
            logged,
            vec![
                ("cv_mae", 0, 41.45),
                ("fold_mae", 0, 44.1),
                ("fold_mae", 1, 41.0),
                ("fold_mae", 2, 39.25)
            ]
        );
        assert!(matches!(
            store.get_run("missing").await,
            Err(StoreError::RunNotFound(_))
        ));
        drop_database(database).await;
    }
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_history() {
    let dir = tempfile::tempdir().unwrap();
    let admin = postgres_admin_url();
    let (database, postgres_url) = create_database(&admin).await.unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    for url in [postgres_url.as_str(), sqlite_url.as_str()] {
        let store = Store::connect(url, 2, LIMIT).await.unwrap();
        let model = name("bikes");
        store
            .create_model(&model, "", &Tags::new(), "t")
            .await
            .unwrap();
        let bytes = b"onnx".to_vec();
        let digest = sha256(&bytes);
        let metadata = meta(json!({}));
        store
            .create_version(upload(&model, &bytes, &digest, &metadata))
            .await
            .unwrap();
        let champion = alias("champion");
        store
            .set_alias(&model, &champion, VersionNumber::FIRST, "t", "why")
            .await
            .unwrap();
        // Behind the store's back, with a plain connection: every rewrite is refused.
        sqlx::any::install_default_drivers();
        let raw = sqlx::AnyPool::connect(url).await.unwrap();
        for statement in [
            "UPDATE alias_audit SET reason = 'rewritten'",
            "DELETE FROM alias_audit",
            "UPDATE model_versions SET created_by = 'someone else'",
        ] {
            let error = match sqlx::query(statement).execute(&raw).await {
                Ok(done) => panic!("{url}: {statement} went through: {done:?}"),
                Err(error) => error,
            };
            assert!(
                error.to_string().contains("not allowed"),
                "{url}: {statement}: {error}"
            );
        }
        let audit = store.alias_audit(&model).await.unwrap();
        assert_eq!((audit.len(), audit[0].reason.as_str()), (1, "why"));
        raw.close().await;
        store.close().await;
    }
    drop_database(Some(database)).await;
}
