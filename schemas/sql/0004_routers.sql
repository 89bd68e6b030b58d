-- fogmesh controller schema v4: router topology (upstream's Routers table).
--
-- Every fog whose routerMode is not 'none' has a row here, kept in step with the fog's router
-- columns, plus a router microservice (catalog item 1, "Router for Fog <uuid>") in the fog's
-- system application. The default router ('default-router') is the system fog's interior router,
-- or, on Kubernetes, a row without a fog registered with PUT /router. Which routers a fog's router
-- connects to is fogs.upstream_routers (fog uuids or 'default-router').

CREATE TABLE routers (
  id                 serial PRIMARY KEY,
  iofog_uuid         text UNIQUE REFERENCES fogs(uuid) ON DELETE CASCADE,
  is_edge            boolean NOT NULL DEFAULT true,
  host               text,
  messaging_port     integer NOT NULL DEFAULT 5672,
  edge_router_port   integer,
  inter_router_port  integer,
  is_default         boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX routers_single_default ON routers (is_default) WHERE is_default;
CREATE INDEX fogs_upstream_routers ON fogs USING gin (upstream_routers);
