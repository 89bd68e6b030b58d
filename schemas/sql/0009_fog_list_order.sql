-- fogmesh controller schema v9: GET /iofog-list reads a user's fogs in creation order. With only
-- (user_id) indexed, PostgreSQL sorted every row of the list (about 900 bytes each) on each
-- request; this index hands them over in order. It also serves every lookup by user_id, so the
-- old single-column index goes (one index less to update per POST /iofog).
CREATE INDEX fogs_user_created ON fogs (user_id, created_at, uuid);
DROP INDEX fogs_user;
