-- fogmesh controller schema v8: edge resources (upstream's EdgeResources, HTTPBasedResourceInterfaces
-- and their endpoints, folded into one row: `interface` holds {endpoints: [...]}) and their links
-- to agents. A (name, version) pair is unique per user; linking adds the resource's orchestration
-- tags to the agent's tags, and agents hear of it through the linked_edge_resources flag.
CREATE TABLE edge_resources (
  id                  bigserial PRIMARY KEY,
  user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name                text NOT NULL,
  version             text NOT NULL,
  description         text NOT NULL DEFAULT '',
  interface_protocol  text,
  interface           jsonb NOT NULL DEFAULT '{"endpoints": []}',
  display_name        text,
  display_icon        text,
  display_color       text,
  orchestration_tags  text[] NOT NULL DEFAULT '{}',
  custom              jsonb NOT NULL DEFAULT '{}',
  created_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, name, version)
);

CREATE TABLE fog_edge_resources (
  iofog_uuid        text NOT NULL REFERENCES fogs(uuid) ON DELETE CASCADE,
  edge_resource_id  bigint NOT NULL REFERENCES edge_resources(id) ON DELETE CASCADE,
  PRIMARY KEY (iofog_uuid, edge_resource_id)
);
CREATE INDEX fog_edge_resources_resource ON fog_edge_resources (edge_resource_id);
