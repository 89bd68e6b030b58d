-- fogmesh controller schema v13: POST /iofog no longer reads every router to learn whether there is
-- a default router.
--
-- fogmesh_new_fog_router (0010) asked `EXISTS (SELECT 1 FROM routers WHERE is_default)`. PL/pgSQL
-- plans that once per session and keeps the plan; planned while `routers` had no statistics
-- (a new cluster, or a burst of creates between two autovacuum analyses) the planner expects
-- half the rows to match and picks a sequential scan, which then reads every router on each call
-- because none is the default. In the benchmark's POST /iofog run (up to 16,000 routers) those
-- scans were the largest share of PostgreSQL's CPU per fog (heap_getnextslot and visibility
-- checks on top of the profile). The lookup now goes through the partial unique index
-- routers_single_default in a function that forbids sequential scans for its one statement, so
-- the cost no longer grows with the number of routers whatever the statistics say.
CREATE FUNCTION fogmesh_default_router_id() RETURNS integer
LANGUAGE plpgsql STABLE SET enable_seqscan = off AS $$
BEGIN
  RETURN (SELECT id FROM routers WHERE is_default LIMIT 1);
END
$$;

-- 0010's function with the two default-router lookups above changed (by id: the primary key).
CREATE OR REPLACE FUNCTION fogmesh_new_fog_router(p_fog text, p_msvc text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  f fogs%ROWTYPE;
  v_edge boolean;
  v_router routers%ROWTYPE;
  v_dest routers%ROWTYPE;
  v_app integer;
  v_up text;
  v_port integer;
  v_listeners text;
  v_connectors text := '';
  v_config text;
BEGIN
  SELECT * INTO f FROM fogs WHERE uuid = p_fog;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'fogmesh_new_fog_router: no fog %', p_fog;
  END IF;
  IF f.router_mode = 'none' THEN
    RETURN;
  END IF;
  IF f.is_system THEN
    RAISE EXCEPTION 'fogmesh_new_fog_router: system fog % needs the general path', p_fog;
  END IF;
  v_edge := f.router_mode = 'edge';
  INSERT INTO routers (iofog_uuid, is_edge, host, messaging_port, edge_router_port,
                       inter_router_port, is_default)
  VALUES (p_fog, v_edge, f.host, coalesce(f.messaging_port, 5672),
          CASE WHEN v_edge THEN NULL ELSE f.edge_router_port END,
          CASE WHEN v_edge THEN NULL ELSE f.inter_router_port END, false)
  RETURNING * INTO v_router;
  -- No upstream named: the default router, once there is one.
  IF cardinality(f.upstream_routers) = 0 AND fogmesh_default_router_id() IS NOT NULL THEN
    UPDATE fogs SET upstream_routers = '{default-router}' WHERE uuid = p_fog;
    f.upstream_routers := '{default-router}';
  END IF;

  INSERT INTO applications (name, description, is_activated, is_system, user_id)
  VALUES ('system-' || p_fog, 'System microservices of agent ' || p_fog, true, true, f.user_id)
  ON CONFLICT (user_id, name) DO NOTHING
  RETURNING id INTO v_app;
  IF v_app IS NULL THEN
    SELECT id INTO v_app FROM applications WHERE user_id = f.user_id AND name = 'system-' || p_fog;
  END IF;

  v_listeners := '{"role":"normal","host":"0.0.0.0","port":' || v_router.messaging_port || '}';
  IF NOT v_edge THEN
    IF v_router.inter_router_port IS NOT NULL THEN
      v_listeners := v_listeners || ',{"role":"inter-router","host":"0.0.0.0","port":' ||
                     v_router.inter_router_port || '}';
    END IF;
    IF v_router.edge_router_port IS NOT NULL THEN
      v_listeners := v_listeners || ',{"role":"edge","host":"0.0.0.0","port":' ||
                     v_router.edge_router_port || '}';
    END IF;
  END IF;
  FOREACH v_up IN ARRAY f.upstream_routers LOOP
    IF v_up = 'default-router' THEN
      SELECT * INTO v_dest FROM routers WHERE id = fogmesh_default_router_id();
    ELSE
      SELECT * INTO v_dest FROM routers WHERE iofog_uuid = v_up LIMIT 1;
    END IF;
    CONTINUE WHEN NOT FOUND OR v_dest.id = v_router.id OR v_dest.is_edge;
    v_port := CASE WHEN v_edge THEN v_dest.edge_router_port ELSE v_dest.inter_router_port END;
    CONTINUE WHEN v_port IS NULL;
    v_connectors := v_connectors || CASE WHEN v_connectors = '' THEN '' ELSE ',' END ||
                    '{"name":' || to_json(coalesce(v_dest.iofog_uuid, 'default-router'))::text ||
                    ',"role":"' || CASE WHEN v_edge THEN 'edge' ELSE 'inter-router' END ||
                    '","host":' || to_json(coalesce(v_dest.host, ''))::text ||
                    ',"port":' || v_port || '}';
  END LOOP;
  v_config := '{"mode":"' || CASE WHEN v_edge THEN 'edge' ELSE 'interior' END || '","id":' ||
              to_json(p_fog)::text || ',"listeners":[' || v_listeners || ']' ||
              CASE WHEN v_connectors = '' THEN '' ELSE ',"connectors":[' || v_connectors || ']' END ||
              '}';

  INSERT INTO microservices (uuid, name, config, catalog_item_id, registry_id, iofog_uuid,
                             application_id, root_host_access, log_size, rebuild, user_id)
  SELECT p_msvc, 'Router for Fog ' || p_fog, v_config, c.id, c.registry_id, p_fog, v_app, false,
         1, true, f.user_id
  FROM catalog_items c WHERE c.id = 1;
  INSERT INTO microservice_status (microservice_uuid) VALUES (p_msvc);
  INSERT INTO microservice_images (microservice_uuid, fog_type_id, container_image)
  SELECT p_msvc, fog_type_id, container_image FROM catalog_item_images WHERE catalog_item_id = 1;
  INSERT INTO microservice_ports (microservice_uuid, port_internal, port_external)
  SELECT DISTINCT p_msvc, p, p
  FROM unnest(ARRAY[v_router.messaging_port, v_router.inter_router_port,
                    v_router.edge_router_port]) p
  WHERE p IS NOT NULL;
END
$$;
