-- fogmesh controller schema v6: SSH reverse tunnels (upstream's Tunnels).
--
-- PATCH /iofog/:uuid/tunnel {action: open} writes the fog's tunnel (settings from the body or the
-- controller config keys tunnel-host, tunnel-username, tunnel-password, tunnel-rsa-key,
-- tunnel-lport, tunnel-port-range) with a free remote port; the agent reads it from
-- GET /agent/tunnel after the `tunnel` change flag.
CREATE TABLE tunnels (
  iofog_uuid  text PRIMARY KEY REFERENCES fogs(uuid) ON DELETE CASCADE,
  username    text NOT NULL DEFAULT '',
  password    text NOT NULL DEFAULT '',   -- given to the agent only
  host        text NOT NULL,
  rsa_key     text NOT NULL DEFAULT '',
  lport       integer NOT NULL DEFAULT 22,
  rport       integer NOT NULL,
  closed      boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX tunnels_open_rport ON tunnels (host, rport) WHERE NOT closed;
