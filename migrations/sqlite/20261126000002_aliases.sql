-- Aliases point at versions; every move is recorded in an insert-only audit log.

CREATE TABLE aliases (
    model_id   BIGINT NOT NULL REFERENCES registered_models (id),
    alias      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

CREATE TABLE alias_audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id     BIGINT NOT NULL REFERENCES registered_models (id),
    alias        TEXT NOT NULL,
    -- NULL from: the alias was created; NULL to: it was deleted.
    from_version BIGINT,
    to_version   BIGINT,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    at           BIGINT NOT NULL
);

CREATE INDEX alias_audit_model ON alias_audit (model_id, id);
