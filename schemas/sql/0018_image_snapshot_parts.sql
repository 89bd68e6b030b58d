-- Image snapshots in parts. Upstream takes uploads of up to 500 MB; one bytea value that large is
-- read back as hex text of twice its size, past PostgreSQL's 1 GB limit for a value, and would be
-- held whole several times over on both sides. An uploaded snapshot now has image = '' (not NULL:
-- uploaded) and its bytes in parts of a few MiB; rows uploaded before keep their bytes in image.
CREATE TABLE microservice_image_snapshot_parts (
  microservice_uuid text NOT NULL
    REFERENCES microservice_image_snapshots(microservice_uuid) ON DELETE CASCADE,
  part              integer NOT NULL,
  data              bytea NOT NULL,
  PRIMARY KEY (microservice_uuid, part)
);
