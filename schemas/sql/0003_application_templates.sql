-- fogmesh controller schema v3: application templates (upstream's applicationJSON + variables).

CREATE TABLE application_templates (
  id                serial PRIMARY KEY,
  name              text NOT NULL,
  description       text NOT NULL DEFAULT '',
  variables         jsonb NOT NULL DEFAULT '[]',   -- [{key, description, defaultValue}]
  application_json  jsonb NOT NULL DEFAULT '{}',   -- {microservices: [...], routes: [...]}
  user_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, name)
);
