//! Prometheus request metrics (CONVENTIONS 15), labelled by route template, method and status
//! class; never by anything a client chooses:
//!
//! - `velocast_http_requests_total{route,method,status_class}`: every request that got an
//!   answer, and (`status_class="cancelled"`) every one whose client went away before it;
//! - `velocast_http_request_duration_seconds{route,method}`: time to the response head,
//!   cancelled requests included;
//! - `velocast_http_requests_in_flight`: requests being handled now. It is decremented by a
//!   drop guard, so a request abandoned mid-way (client disconnect, timeout) still leaves it;
//! - `velocast_http_request_timeouts_total{route,method}` and
//!   `velocast_http_requests_shed_total{route,method}`: requests answered 503 because they ran
//!   past the timeout or arrived while the service was at its concurrency limit.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::ApiError;

/// Latency buckets from 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The status class of a request whose client disconnected before the response head.
pub const CANCELLED: &str = "cancelled";

/// The service's metrics registry with the HTTP metrics in it; services register their own
/// metrics in [`HttpMetrics::registry`].
///
/// Cheap to clone (one reference count): every middleware holds a copy per request.
#[derive(Debug, Clone)]
pub struct HttpMetrics(std::sync::Arc<Metrics>);

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    timeouts: IntCounterVec,
    shed: IntCounterVec,
}

impl HttpMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "velocast_http_requests_total",
                "HTTP requests answered, or cancelled by the client (status_class=\"cancelled\")",
            ),
            &["route", "method", "status_class"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "velocast_http_request_duration_seconds",
                "Time to the response head (or to the client's disconnect)",
            )
            .buckets(BUCKETS.to_vec()),
            &["route", "method"],
        )?;
        let in_flight = IntGauge::new(
            "velocast_http_requests_in_flight",
            "Requests being handled now",
        )?;
        let timeouts = IntCounterVec::new(
            Opts::new(
                "velocast_http_request_timeouts_total",
                "Requests answered 503 because no response came within the request timeout",
            ),
            &["route", "method"],
        )?;
        let shed = IntCounterVec::new(
            Opts::new(
                "velocast_http_requests_shed_total",
                "Requests refused with 503 because the service was at its concurrency limit",
            ),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(timeouts.clone()))?;
        registry.register(Box::new(shed.clone()))?;
        Ok(HttpMetrics(std::sync::Arc::new(Metrics {
            registry,
            requests,
            duration,
            in_flight,
            timeouts,
            shed,
        })))
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> i64 {
        self.0.in_flight.get()
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.0.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    pub(crate) fn timed_out(&self, labels: &RouteLabels) {
        self.0
            .timeouts
            .with_label_values(&[labels.route(), labels.method])
            .inc();
    }

    pub(crate) fn shed(&self, labels: &RouteLabels) {
        self.0
            .shed
            .with_label_values(&[labels.route(), labels.method])
            .inc();
    }
}

/// The closed-set labels of a request: its route template (never the raw path) and method.
#[derive(Debug, Clone)]
pub(crate) struct RouteLabels {
    /// The matched route template (a cheap clone: it shares the router's string).
    pub matched: Option<MatchedPath>,
    pub method: &'static str,
}

impl RouteLabels {
    pub fn of(request: &Request) -> Self {
        RouteLabels {
            matched: request.extensions().get::<MatchedPath>().cloned(),
            method: method_label(request.method()),
        }
    }

    pub fn route(&self) -> &str {
        self.matched
            .as_ref()
            .map_or("unmatched", MatchedPath::as_str)
    }
}

pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One request in flight. Dropped without [`InFlight::answered`] (the client went away and the
/// server dropped the request's future), it still leaves the gauge and is counted as cancelled.
struct InFlight<'a> {
    metrics: &'a HttpMetrics,
    labels: RouteLabels,
    started: Instant,
    outcome: &'static str,
    /// Scrapes of `/metrics` are not counted in flight, so that an idle service reads 0.
    gauged: bool,
}

/// The route whose requests the in-flight gauge leaves out (it would always count itself).
const SCRAPE_ROUTE: &str = "/metrics";

impl<'a> InFlight<'a> {
    fn begin(metrics: &'a HttpMetrics, labels: RouteLabels) -> Self {
        let gauged = labels.route() != SCRAPE_ROUTE;
        if gauged {
            metrics.0.in_flight.inc();
        }
        InFlight {
            metrics,
            labels,
            started: Instant::now(),
            outcome: CANCELLED,
            gauged,
        }
    }

    fn answered(mut self, status: u16) {
        self.outcome = status_class(status);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let route = self.labels.route();
        if self.gauged {
            self.metrics.0.in_flight.dec();
        }
        self.metrics
            .0
            .duration
            .with_label_values(&[route, self.labels.method])
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics
            .0
            .requests
            .with_label_values(&[route, self.labels.method, self.outcome])
            .inc();
    }
}

/// Middleware recording every request, including those cancelled or timed out.
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let labels = RouteLabels::of(&request);
    tracked(&metrics, labels, next.run(request)).await
}

/// Records the request `response` answers: in flight while it runs, then its duration and
/// status class; if it is dropped unfinished, counted as cancelled.
pub(crate) async fn tracked(
    metrics: &HttpMetrics,
    labels: RouteLabels,
    response: impl std::future::Future<Output = Response>,
) -> Response {
    let in_flight = InFlight::begin(metrics, labels);
    let response = response.await;
    in_flight.answered(response.status().as_u16());
    response
}

/// `GET /metrics`.
pub async fn exposition(State(metrics): State<HttpMetrics>) -> Response {
    match metrics.render() {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        Err(error) => ApiError::internal(&error).into_response(),
    }
}
