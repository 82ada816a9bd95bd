-- Registry schema (Postgres). Timestamps are epoch milliseconds (BIGINT) so the same queries
-- run on Postgres and SQLite; JSON documents are TEXT for the same reason.

CREATE TABLE registered_models (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '{}',
    -- The number the next version gets; bumped inside the upload transaction (gapless).
    next_version BIGINT NOT NULL DEFAULT 1 CHECK (next_version >= 1),
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Content-addressed bytes: artifacts and reference profiles.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY CHECK (length(digest) = 64),
    size       BIGINT NOT NULL CHECK (size >= 0),
    bytes      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    model_name  TEXT NOT NULL,
    status      TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '{}',
    created_by  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT
);

CREATE TABLE model_versions (
    model_id        BIGINT NOT NULL REFERENCES registered_models (id),
    version         BIGINT NOT NULL CHECK (version >= 1),
    artifact_digest TEXT NOT NULL REFERENCES blobs (digest),
    artifact_size   BIGINT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    run_id          TEXT REFERENCES runs (id),
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (model_id, version)
);

CREATE INDEX model_versions_run ON model_versions (run_id);
