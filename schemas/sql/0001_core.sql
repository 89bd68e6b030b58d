-- fogmesh controller schema v1: users, tokens, fogs (agents), provisioning, change tracking.
-- Migrations are applied in order at controller start, each in its own transaction; never edit
-- a released migration, add a new one.

CREATE TABLE users (
  id              bigserial PRIMARY KEY,
  first_name      text NOT NULL,
  last_name       text NOT NULL,
  email           text NOT NULL,
  password_hash   text NOT NULL,            -- libsodium crypto_pwhash_str (argon2id)
  email_activated boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Tokens are random 256-bit values; only their SHA-256 is stored so a database leak yields no
-- usable credentials.
CREATE TABLE user_tokens (
  token_hash  bytea PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

CREATE TABLE fogs (
  uuid                        text PRIMARY KEY,
  user_id                     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name                        text NOT NULL,
  location                    text,
  latitude                    double precision,
  longitude                   double precision,
  gps_mode                    text,
  description                 text,
  host                        text,
  tags                        text[] NOT NULL DEFAULT '{}',
  time_zone                   text,
  network_interface           text NOT NULL DEFAULT 'dynamic',
  docker_url                  text NOT NULL DEFAULT 'unix:///var/run/docker.sock',
  disk_limit                  double precision NOT NULL DEFAULT 50,
  disk_directory              text NOT NULL DEFAULT '/var/lib/iofog/',
  memory_limit                double precision NOT NULL DEFAULT 4096,
  cpu_limit                   double precision NOT NULL DEFAULT 80,
  log_limit                   double precision NOT NULL DEFAULT 10,
  log_directory               text NOT NULL DEFAULT '/var/log/iofog/',
  log_file_count              integer NOT NULL DEFAULT 10,
  log_level                   text NOT NULL DEFAULT 'INFO',
  status_frequency            integer NOT NULL DEFAULT 10,
  change_frequency            integer NOT NULL DEFAULT 20,
  device_scan_frequency       integer NOT NULL DEFAULT 20,
  bluetooth_enabled           boolean NOT NULL DEFAULT false,
  watchdog_enabled            boolean NOT NULL DEFAULT false,
  abstracted_hardware_enabled boolean NOT NULL DEFAULT false,
  docker_pruning_frequency    integer NOT NULL DEFAULT 1,
  available_disk_threshold    double precision NOT NULL DEFAULT 20,
  fog_type_id                 integer NOT NULL DEFAULT 0,
  is_system                   boolean NOT NULL DEFAULT false,
  router_mode                 text NOT NULL DEFAULT 'edge',
  messaging_port              integer,
  inter_router_port           integer,
  edge_router_port            integer,
  upstream_routers            text[] NOT NULL DEFAULT '{}',
  network_router              text,
  -- Reported by the agent (PUT /agent/status).
  daemon_status               text NOT NULL DEFAULT 'UNKNOWN',
  daemon_operating_duration   bigint NOT NULL DEFAULT 0,
  daemon_last_start           bigint,
  memory_usage                double precision NOT NULL DEFAULT 0,
  disk_usage                  double precision NOT NULL DEFAULT 0,
  cpu_usage                   double precision NOT NULL DEFAULT 0,
  memory_violation            text,
  disk_violation              text,
  cpu_violation               text,
  system_available_disk       bigint,
  system_available_memory     bigint,
  system_total_cpu            double precision,
  security_status             text NOT NULL DEFAULT 'OK',
  security_violation_info     text NOT NULL DEFAULT 'No violation',
  catalog_item_status         text,
  repository_count            integer NOT NULL DEFAULT 0,
  repository_status           text,
  system_time                 bigint,
  last_status_time            bigint,
  ip_address                  text NOT NULL DEFAULT '0.0.0.0',
  ip_address_external         text NOT NULL DEFAULT '0.0.0.0',
  processed_messages          bigint NOT NULL DEFAULT 0,
  catalog_item_message_counts text,
  message_speed               double precision NOT NULL DEFAULT 0,
  last_command_time           bigint,
  tunnel                      text NOT NULL DEFAULT '',
  version                     text,
  is_ready_to_upgrade         boolean NOT NULL DEFAULT true,
  is_ready_to_rollback        boolean NOT NULL DEFAULT false,
  last_active                 bigint,
  warning_message             text NOT NULL DEFAULT 'HEALTHY',
  hw_info                     text,
  version_command             text,                 -- pending 'upgrade' / 'rollback'
  usb_info                    text,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fogs_user ON fogs (user_id);
CREATE UNIQUE INDEX fogs_single_system ON fogs (is_system) WHERE is_system;

CREATE TABLE fog_tokens (
  token_hash  bytea PRIMARY KEY,
  fog_uuid    text NOT NULL REFERENCES fogs(uuid) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX fog_tokens_fog ON fog_tokens (fog_uuid);

-- One live key per fog; single use; stored hashed like tokens.
CREATE TABLE fog_provision_keys (
  fog_uuid    text PRIMARY KEY REFERENCES fogs(uuid) ON DELETE CASCADE,
  key_hash    bytea NOT NULL UNIQUE,
  expires_at  timestamptz NOT NULL
);

-- Change tracking (upstream's ChangeTracking): one row per change; the agent reads the OR of all
-- rows and acks with the newest last_updated, which deletes rows up to it (at-least-once).
CREATE TABLE change_tracking (
  id                    bigserial PRIMARY KEY,
  fog_uuid              text NOT NULL REFERENCES fogs(uuid) ON DELETE CASCADE,
  last_updated          timestamptz NOT NULL DEFAULT clock_timestamp(),
  config                boolean NOT NULL DEFAULT false,
  version               boolean NOT NULL DEFAULT false,
  reboot                boolean NOT NULL DEFAULT false,
  delete_node           boolean NOT NULL DEFAULT false,
  microservice_list     boolean NOT NULL DEFAULT false,
  microservice_config   boolean NOT NULL DEFAULT false,
  routing               boolean NOT NULL DEFAULT false,
  registries            boolean NOT NULL DEFAULT false,
  tunnel                boolean NOT NULL DEFAULT false,
  diagnostics           boolean NOT NULL DEFAULT false,
  is_image_snapshot     boolean NOT NULL DEFAULT false,
  prune                 boolean NOT NULL DEFAULT false,
  router_changed        boolean NOT NULL DEFAULT false,
  linked_edge_resources boolean NOT NULL DEFAULT false
);
CREATE INDEX change_tracking_fog ON change_tracking (fog_uuid, last_updated);

-- Every change wakes the agent's long-poll on whichever controller replica holds it: NOTIFY is
-- delivered at commit, to every listening session.
CREATE FUNCTION fogmesh_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('fogmesh_changes', NEW.fog_uuid);
  RETURN NULL;
END $$;
CREATE TRIGGER change_tracking_notify AFTER INSERT ON change_tracking
  FOR EACH ROW EXECUTE FUNCTION fogmesh_notify_change();

CREATE TABLE controller_config (
  key    text PRIMARY KEY,
  value  text NOT NULL
);
