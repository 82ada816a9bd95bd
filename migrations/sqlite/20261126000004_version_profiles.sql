-- A version's reference profile (the training distribution the monitor compares live traffic
-- with) is a content-addressed blob beside the artifact, committed in the same transaction.
ALTER TABLE model_versions ADD COLUMN profile_digest TEXT REFERENCES blobs (digest);
