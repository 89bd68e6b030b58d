-- fogmesh controller schema v11: a user's fog names are unique in the database, not only in the
-- handlers. POST /iofog checks the name inside its INSERT (... WHERE NOT EXISTS), and PATCH
-- before its UPDATE, but two concurrent requests do not see each other's uncommitted row, so
-- both could succeed with the same name. With the unique index the second one waits for the
-- first to commit and then fails with a unique violation, which the handlers answer like the
-- check (400 "Duplicate name '<name>'", upstream's ValidationError).
--
-- Duplicates that slipped in before keep the oldest fog's name; each later one is renamed to
-- "<name> (<its uuid>)", which is unique (uuids are) and still says which fog it was. Deleting
-- them instead would remove agents and their microservices.
UPDATE fogs f SET name = f.name || ' (' || f.uuid || ')'
FROM (SELECT uuid, row_number() OVER (PARTITION BY user_id, name ORDER BY created_at, uuid) AS n
      FROM fogs) d
WHERE d.uuid = f.uuid AND d.n > 1;

-- Replaces 0010's plain index on the same columns (one index to update per POST /iofog, not two).
CREATE UNIQUE INDEX fogs_user_name_key ON fogs (user_id, name);
DROP INDEX fogs_user_name;
