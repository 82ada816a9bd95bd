// `sqlx::migrate!` embeds the migration files at compile time, but cargo does not know to
// rebuild when one is added; without this, a cached build can ship stale migrations.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
