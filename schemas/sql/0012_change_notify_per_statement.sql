-- fogmesh controller schema v12: one NOTIFY per statement (per ~200 changed fogs) instead of one per
-- change row. A change for every agent (a registry: 5,000 rows in one INSERT) ran the row trigger
-- and pg_notify 5,000 times inside the request, queued 5,000 notifications and made each
-- replica's listener read and dispatch them one by one. The payload is now a comma-separated list
-- of fog uuids, cut where the running length passes a multiple of 7,500 bytes, so each payload
-- stays below NOTIFY's 8,000-byte limit (about 200 uuids); app.cpp's listener splits it. A fog_tokens deletion (0007) still sends a single uuid, which
-- is the same format with one element.
CREATE FUNCTION fogmesh_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_payload text;
BEGIN
  FOR v_payload IN
    SELECT string_agg(fog_uuid, ',')
    FROM (SELECT fog_uuid,
                 (sum(length(fog_uuid) + 1) OVER (ORDER BY fog_uuid) - length(fog_uuid) - 1)
                   / 7500 AS chunk
          FROM (SELECT DISTINCT fog_uuid FROM fogmesh_new_changes) d) n
    GROUP BY chunk
  LOOP
    PERFORM pg_notify('fogmesh_changes', v_payload);
  END LOOP;
  RETURN NULL;
END $$;

DROP TRIGGER change_tracking_notify ON change_tracking;
DROP FUNCTION fogmesh_notify_change();
CREATE TRIGGER change_tracking_notify AFTER INSERT ON change_tracking
  REFERENCING NEW TABLE AS fogmesh_new_changes
  FOR EACH STATEMENT EXECUTE FUNCTION fogmesh_notify_changes();
