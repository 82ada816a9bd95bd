-- The database itself refuses to rewrite history: audit rows are never updated or deleted, and
-- a version is never updated (it may only be deleted as a whole, by the registry's rules).
CREATE FUNCTION velocast_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER alias_audit_append_only BEFORE UPDATE OR DELETE ON alias_audit
    FOR EACH ROW EXECUTE FUNCTION velocast_refuse_change();

CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
    FOR EACH ROW EXECUTE FUNCTION velocast_refuse_change();
