-- The database itself refuses to rewrite history: audit rows are never updated or deleted, and
-- a version is never updated (it may only be deleted as a whole, by the registry's rules).
CREATE TRIGGER alias_audit_no_update BEFORE UPDATE ON alias_audit
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on alias_audit is not allowed: the table is append-only');
END;

CREATE TRIGGER alias_audit_no_delete BEFORE DELETE ON alias_audit
BEGIN
    SELECT RAISE(ABORT, 'DELETE on alias_audit is not allowed: the table is append-only');
END;

CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on model_versions is not allowed: versions are immutable');
END;
