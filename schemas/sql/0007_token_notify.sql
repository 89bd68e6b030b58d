-- fogmesh controller schema v7: a revoked agent token (deprovision, re-provision, fog deleted)
-- notifies its fog's channel like a change does. Each replica keeps the agents' "no changes"
-- answers in memory until their fog's change sequence moves (see app.cpp, agent poll cache); this
-- makes that sequence move when a token stops being valid, on every replica.
CREATE FUNCTION fogmesh_notify_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('fogmesh_changes', OLD.fog_uuid);
  RETURN NULL;
END $$;
CREATE TRIGGER fog_tokens_notify AFTER DELETE ON fog_tokens
  FOR EACH ROW EXECUTE FUNCTION fogmesh_notify_token();
