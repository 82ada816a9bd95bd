-- The monitor's own database (not the registry's: each service migrates its own).
-- One row per answered request row; (request_id, row_index) makes a retried batch a no-op.
CREATE TABLE prediction_events (
    request_id TEXT NOT NULL,
    row_index BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    -- The hour predicted (the request's station time, as epoch ms of that wall-clock time), when
    -- the request came in physical units; outcomes by hour join on it.
    hour_ms BIGINT,
    route TEXT NOT NULL,
    arm TEXT NOT NULL,
    model TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- The feature vector, f32 little-endian, in the signature's order.
    features BYTEA NOT NULL,
    prediction DOUBLE PRECISION NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (request_id, row_index)
);
CREATE INDEX prediction_events_window ON prediction_events (model, at_ms);
CREATE INDEX prediction_events_hour ON prediction_events (hour_ms);

CREATE TABLE outcomes_by_hour (
    hour_ms BIGINT PRIMARY KEY,
    actual DOUBLE PRECISION NOT NULL,
    received_ms BIGINT NOT NULL
);

CREATE TABLE outcomes_by_request (
    request_id TEXT NOT NULL,
    row_index BIGINT NOT NULL,
    actual DOUBLE PRECISION NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (request_id, row_index)
);

-- Events refused at ingest, counted per batch (for the share of rejected events per window).
CREATE TABLE rejected_events (
    received_ms BIGINT NOT NULL,
    events BIGINT NOT NULL
);
CREATE INDEX rejected_events_time ON rejected_events (received_ms);
