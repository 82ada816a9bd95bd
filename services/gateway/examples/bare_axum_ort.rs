//! The baseline of `bench/gateway.sh`: the least a Rust server can do to answer the same
//! prediction — axum, the features crate and ONNX Runtime, nothing else (no auth, no rate
//! limit, no metrics, no batching). Its best configuration for one core: a current-thread
//! runtime and one session used inline by the handler (a thread hop would only add cost).
//!
//! `cargo run --release --example bare_axum_ort -- <model.onnx> <addr>`; `POST /v1/predict`
//! takes one hour or `{"instances": [...]}`.

#![allow(clippy::print_stderr)]

/// The allocator the gateway uses: the baseline gets every advantage the gateway has that is
/// not the work it is measured against (auth, limits, metrics, batching).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use velocast_features::DemandRequest;
use velocast_runtime::{Runtime, TreeSession, resolve_dylib_path};

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Body {
    Many { instances: Vec<DemandRequest> },
    One(DemandRequest),
}

async fn predict(
    State(session): State<Arc<Mutex<TreeSession>>>,
    Json(body): Json<Body>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let (rows, many) = match body {
        Body::One(hour) => (vec![hour], false),
        Body::Many { instances } => (instances, true),
    };
    let mut features = Vec::with_capacity(rows.len() * velocast_features::FEATURE_COUNT);
    for row in &rows {
        let vector = velocast_features::features(row)
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        features.extend_from_slice(&vector);
    }
    let values = session
        .lock()
        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".to_owned()))?
        .predict(&features)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(if many {
        json!({ "predictions": values })
    } else {
        json!({ "prediction": values.first() })
    }))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(address)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_axum_ort <model.onnx> <addr>");
        std::process::exit(2);
    };
    let run = async {
        let runtime = Runtime::load(&resolve_dylib_path(None))?;
        let session = runtime.session(&std::fs::read(&model)?, 1)?;
        let app = axum::Router::new()
            .route("/v1/predict", post(predict))
            .with_state(Arc::new(Mutex::new(session)));
        let listener = tokio::net::TcpListener::bind(&address).await?;
        axum::serve(listener, app).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.into())
        .and_then(|runtime| runtime.block_on(run));
    if let Err(error) = outcome {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
