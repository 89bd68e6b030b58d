-- Strace and image snapshot diagnostics (upstream: the StraceDiagnostics table and
-- Microservice.imageSnapshot). A snapshot is kept in the database rather than as a file in one
-- controller's data dir, so whichever replica an agent uploads to, any replica can serve it.
CREATE TABLE microservice_straces (
  microservice_uuid text PRIMARY KEY REFERENCES microservices(uuid) ON DELETE CASCADE,
  strace_run        boolean NOT NULL DEFAULT false,
  buffer            text NOT NULL DEFAULT ''
);

CREATE TABLE microservice_image_snapshots (
  microservice_uuid text PRIMARY KEY REFERENCES microservices(uuid) ON DELETE CASCADE,
  image             bytea  -- NULL while requested and not yet uploaded (upstream's 'get_image')
);
