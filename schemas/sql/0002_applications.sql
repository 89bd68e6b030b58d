-- fogmesh controller schema v2: registries, catalog, applications, microservices, routes.

CREATE TABLE registries (
  id             serial PRIMARY KEY,
  url            text NOT NULL,
  is_public      boolean NOT NULL DEFAULT true,
  requires_cert  boolean NOT NULL DEFAULT false,
  certificate    text NOT NULL DEFAULT '',
  username       text NOT NULL DEFAULT '',
  password       text NOT NULL DEFAULT '',   -- given to agents only, never back to users
  user_email     text NOT NULL DEFAULT '',
  user_id        bigint REFERENCES users(id) ON DELETE CASCADE
);
-- Upstream's seeded ids: clients refer to 1 (Docker Hub) and 2 (local image cache) by number.
INSERT INTO registries (id, url, is_public) VALUES (1, 'registry.hub.docker.com', true),
                                                  (2, 'from_cache', true);
SELECT setval('registries_id_seq', 100);

CREATE TABLE catalog_items (
  id              serial PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  description     text NOT NULL DEFAULT '',
  category        text NOT NULL DEFAULT '',
  config_example  text NOT NULL DEFAULT '{}',
  publisher       text NOT NULL DEFAULT '',
  disk_required   bigint NOT NULL DEFAULT 0,
  ram_required    bigint NOT NULL DEFAULT 0,
  picture         text NOT NULL DEFAULT 'images/shared/default.png',
  is_public       boolean NOT NULL DEFAULT false,
  registry_id     integer NOT NULL DEFAULT 1 REFERENCES registries(id),
  user_id         bigint REFERENCES users(id) ON DELETE CASCADE,
  input_type      jsonb,
  output_type     jsonb
);
CREATE TABLE catalog_item_images (
  catalog_item_id integer NOT NULL REFERENCES catalog_items(id) ON DELETE CASCADE,
  fog_type_id     integer NOT NULL,
  container_image text NOT NULL,
  PRIMARY KEY (catalog_item_id, fog_type_id)
);
INSERT INTO catalog_items (id, name, description, category, publisher, is_public) VALUES
  (1, 'Router', 'The built-in router for fogmesh', 'SYSTEM', 'fogmesh', false),
  (2, 'Proxy', 'The built-in proxy for public ports', 'SYSTEM', 'fogmesh', false);
INSERT INTO catalog_item_images VALUES (1, 1, 'ghcr.io/fogmesh/router:latest'),
  (1, 2, 'ghcr.io/fogmesh/router:latest'), (2, 1, 'ghcr.io/fogmesh/proxy:latest'),
  (2, 2, 'ghcr.io/fogmesh/proxy:latest');
SELECT setval('catalog_items_id_seq', 100);

CREATE TABLE applications (
  id            serial PRIMARY KEY,
  name          text NOT NULL,
  description   text NOT NULL DEFAULT '',
  is_activated  boolean NOT NULL DEFAULT false,
  is_system     boolean NOT NULL DEFAULT false,
  user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, name)
);

CREATE TABLE microservices (
  uuid                 text PRIMARY KEY,
  name                 text NOT NULL,
  config               text NOT NULL DEFAULT '{}',
  catalog_item_id      integer REFERENCES catalog_items(id),
  registry_id          integer NOT NULL DEFAULT 1 REFERENCES registries(id),
  iofog_uuid           text REFERENCES fogs(uuid) ON DELETE SET NULL,
  application_id       integer NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
  root_host_access     boolean NOT NULL DEFAULT false,
  log_size             bigint NOT NULL DEFAULT 0,
  rebuild              boolean NOT NULL DEFAULT false,
  env                  jsonb NOT NULL DEFAULT '[]',   -- [{key,value}]
  cmd                  jsonb NOT NULL DEFAULT '[]',   -- [string]
  extra_hosts          jsonb NOT NULL DEFAULT '[]',   -- [{name,address}]
  user_id              bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- clock_timestamp, not now(): an application's microservices are created in one transaction
  -- and are listed in creation order.
  created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  UNIQUE (application_id, name)
);
CREATE INDEX microservices_fog ON microservices (iofog_uuid);

CREATE TABLE microservice_images (
  microservice_uuid text NOT NULL REFERENCES microservices(uuid) ON DELETE CASCADE,
  fog_type_id       integer NOT NULL,
  container_image   text NOT NULL,
  PRIMARY KEY (microservice_uuid, fog_type_id)
);

CREATE TABLE microservice_ports (
  microservice_uuid text NOT NULL REFERENCES microservices(uuid) ON DELETE CASCADE,
  port_internal     integer NOT NULL,
  port_external     integer NOT NULL,
  is_udp            boolean NOT NULL DEFAULT false,
  PRIMARY KEY (microservice_uuid, port_internal)
);

CREATE TABLE microservice_volumes (
  id                    serial PRIMARY KEY,
  microservice_uuid     text NOT NULL REFERENCES microservices(uuid) ON DELETE CASCADE,
  host_destination      text NOT NULL,
  container_destination text NOT NULL,
  access_mode           text NOT NULL,
  type                  text NOT NULL DEFAULT 'bind'
);

CREATE TABLE microservice_status (
  microservice_uuid  text PRIMARY KEY REFERENCES microservices(uuid) ON DELETE CASCADE,
  status             text NOT NULL DEFAULT 'QUEUED',
  percentage         double precision NOT NULL DEFAULT 0,
  error_message      text NOT NULL DEFAULT '',
  container_id       text NOT NULL DEFAULT '',
  start_time         bigint NOT NULL DEFAULT 0,
  operating_duration bigint NOT NULL DEFAULT 0,
  cpu_usage          double precision NOT NULL DEFAULT 0,
  memory_usage       bigint NOT NULL DEFAULT 0
);

CREATE TABLE routes (
  id                        serial PRIMARY KEY,
  name                      text NOT NULL,
  application_id            integer NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
  source_microservice_uuid  text NOT NULL REFERENCES microservices(uuid) ON DELETE CASCADE,
  dest_microservice_uuid    text NOT NULL REFERENCES microservices(uuid) ON DELETE CASCADE,
  UNIQUE (application_id, name)
);
