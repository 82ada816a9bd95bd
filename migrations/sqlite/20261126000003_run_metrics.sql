-- Metrics a run logs as it goes: one row per (key, step), e.g. ("cv_mae", trial 12) or
-- ("fold_mae", fold 2).

CREATE TABLE run_metrics (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    key       TEXT NOT NULL,
    step      BIGINT NOT NULL,
    value     REAL NOT NULL,
    logged_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, key, step)
);
