//! Fresh databases for tests (this crate's and the services'): each test gets its own Postgres
//! database on the server that `VELOCAST_TEST_POSTGRES_URL` names (default: the local one).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor};

/// The admin connection's URL (a database on the test server that always exists).
pub fn postgres_admin_url() -> String {
    std::env::var("VELOCAST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test (or test process) uses.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates an empty database on the server at `admin_url`; returns its name and URL.
pub async fn create_database(admin_url: &str) -> Result<(String, String), sqlx::Error> {
    let database = unique_name("velocast_test");
    let mut connection = sqlx::PgConnection::connect(admin_url).await?;
    connection
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok((database.clone(), format!("{base}/{database}")))
}

/// Drops a test database, best effort: one left behind by a crashed test has a unique name
/// and harms nothing.
pub async fn drop_database(admin_url: &str, database: &str) {
    if let Ok(mut connection) = sqlx::PgConnection::connect(admin_url).await {
        let _ = connection
            .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
            .await;
    }
}
