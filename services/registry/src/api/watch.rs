//! `GET /v1/watch`: server-sent events for alias moves and new versions, so a gateway learns of
//! a move within milliseconds without polling. Fed by Postgres `LISTEN/NOTIFY` (any replica's
//! writes reach every replica's watchers) or, on SQLite, by the store itself.
//!
//! The stream opens with a `ready` event (the subscription is live from then on), sends
//! `alias_moved` / `version_created` events as JSON, and `resync` when events may have been
//! missed (a watcher fell behind, or the database connection was re-established): clients then
//! re-read the state they follow. Comments keep idle connections alive; the stream ends when
//! the service shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, future, stream};
use tokio_stream::wrappers::BroadcastStream;
use velocast_catalog::ModelName;
use velocast_http::ApiQuery;
use velocast_http::auth::{Authorized, ModelsRead};
use velocast_registry_store::WatchEvent;

use crate::api::params::WatchQuery;
use crate::error::{RegistryError, parse_optional};
use crate::state::AppState;

/// Decrements the open-watchers gauge when the stream is dropped.
struct WatcherGuard(prometheus::IntGauge);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn event_of(event: &WatchEvent) -> Event {
    let kind = match event {
        WatchEvent::AliasMoved { .. } => "alias_moved",
        WatchEvent::VersionCreated { .. } => "version_created",
        WatchEvent::Resync => "resync",
    };
    // A watch event is plain data; should it ever fail to serialize, the watcher is told to
    // re-read the state it follows, which is always correct, and the fault is logged.
    Event::default()
        .event(kind)
        .json_data(event)
        .unwrap_or_else(|error| {
            tracing::error!(%error, "watch event did not serialize; sending resync");
            Event::default().event("resync").data("{}")
        })
}

/// Server-sent events: `ready`, then `alias_moved`, `version_created` and `resync`.
#[utoipa::path(get, path = "/v1/watch", tag = "watch", params(WatchQuery),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 404, description = "No such model", body = velocast_http::ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn watch(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WatchQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, RegistryError> {
    let model = parse_optional::<ModelName>(query.model.as_deref(), "model")?;
    if let Some(model) = &model {
        state.store.get_model(model).await?;
    }
    // Subscribe before answering, so nothing committed after `ready` is missed.
    let receiver = state.store.subscribe();
    state.metrics.watchers.inc();
    let guard = WatcherGuard(state.metrics.watchers.clone());
    let wanted = model.map(|m| m.to_string());
    let events = BroadcastStream::new(receiver).filter_map(move |item| {
        let event = match item {
            Ok(event) => event,
            // Fell behind the buffer: some events are gone.
            Err(_lagged) => WatchEvent::Resync,
        };
        let keep = match (&wanted, event.model()) {
            (Some(wanted), Some(model)) => wanted == model,
            _ => true,
        };
        future::ready(keep.then(|| event_of(&event)))
    });
    let stream = stream::once(future::ready(Event::default().event("ready").data("{}")))
        .chain(events)
        .take_until(state.lifecycle.stopping.clone().cancelled_owned())
        .map(move |event| {
            let _open = &guard;
            Ok(event)
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
