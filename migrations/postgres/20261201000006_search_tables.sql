-- Tags and metrics, one row each, so that searching models by tag and versions by tag or metric
-- runs in SQL instead of reading every row into the service. The JSON documents stay the
-- record; these tables are written in the same transactions and backfilled here.

CREATE TABLE model_tags (
    model_id BIGINT NOT NULL REFERENCES registered_models (id),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE INDEX model_tags_key_value ON model_tags (key, value);

CREATE TABLE version_tags (
    model_id BIGINT NOT NULL,
    version  BIGINT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, version, key),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

CREATE TABLE version_metrics (
    model_id BIGINT NOT NULL,
    version  BIGINT NOT NULL,
    name     TEXT NOT NULL,
    value    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model_id, version, name),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

INSERT INTO model_tags (model_id, key, value)
SELECT m.id, t.key, t.value
FROM registered_models m, jsonb_each_text(m.tags::jsonb) t
WHERE jsonb_typeof(m.tags::jsonb) = 'object';

INSERT INTO version_tags (model_id, version, key, value)
SELECT v.model_id, v.version, t.key, t.value
FROM model_versions v, jsonb_each_text(v.metadata::jsonb -> 'tags') t
WHERE jsonb_typeof(v.metadata::jsonb -> 'tags') = 'object';

INSERT INTO version_metrics (model_id, version, name, value)
SELECT v.model_id, v.version, m.key, (m.value #>> '{}')::double precision
FROM model_versions v, jsonb_each(v.metadata::jsonb -> 'metrics') m
WHERE jsonb_typeof(v.metadata::jsonb -> 'metrics') = 'object' AND jsonb_typeof(m.value) = 'number';
