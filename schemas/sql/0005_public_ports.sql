-- fogmesh controller schema v5: public ports (upstream's MicroservicePublicPorts).
--
-- A microservice port mapping with `public` (or `proxy: true`) gets a port on a public router
-- (host_key: the fog uuid of the router that listens, or 'default-router' for a default router
-- registered with PUT /router, served by the Kubernetes port manager) and a random AMQP address.
-- The public router's config gets a tcpListener on public_port, the microservice's agent router a
-- tcpConnector to the mapping's external (host) port, both on that address. Deleting the port
-- mapping (or the microservice) releases the public port.

CREATE TABLE microservice_public_ports (
  id                 serial PRIMARY KEY,
  microservice_uuid  text NOT NULL,
  port_internal      integer NOT NULL,
  host_key           text NOT NULL,
  public_port        integer NOT NULL,
  address            text NOT NULL UNIQUE,
  protocol           text NOT NULL DEFAULT 'http',    -- http | tcp (the link scheme's kind)
  schemes            jsonb NOT NULL DEFAULT '["https"]',
  is_proxy           boolean NOT NULL DEFAULT false,  -- requested as `proxy: true`
  FOREIGN KEY (microservice_uuid, port_internal)
    REFERENCES microservice_ports (microservice_uuid, port_internal) ON DELETE CASCADE,
  UNIQUE (microservice_uuid, port_internal),
  UNIQUE (host_key, public_port)
);
CREATE INDEX microservice_public_ports_host ON microservice_public_ports (host_key);
