-- fogmesh controller schema v15: POST /iofog in one statement, with fewer statements inside.
--
-- A profile of POST /iofog (pg_stat_statements and perf on the benchmark's cluster) showed
-- PostgreSQL's time spread over per-statement work (executor start-up, relation and index locks,
-- plan look-ups) rather than any one query: per fog the controller sent the INSERT and then
-- `SELECT fogmesh_new_fog_router(uuid, msvc)` (0013), which read the row back, inserted the
-- router, the system application, the router microservice, its status, images and ports in six
-- statements and, with a default router, rewrote the new fog row (upstream_routers), which
-- updates every index of fogs again.
--
-- Now api_iofog.cpp's fog_create sets upstream_routers in the INSERT itself (see
-- fogmesh_upstream_or_default) and hands the inserted row to fogmesh_create_fog_router in the
-- same statement (`WITH f AS (INSERT ... RETURNING fogs) SELECT fogmesh_create_fog_router(...)`),
-- which writes the six rows in one statement of data-modifying CTEs. What is written is the same
-- as before (controller_tests api_iofog_test "CreatedFogMatchesGeneralPath" compares it with the
-- general path of router_model.cpp); see 0010 for what a new, non-system fog's router consists of.

-- A new fog's upstream routers: the default router when none is named and there is one
-- (upstream's rule, as router_model.cpp's sync_fog_router applies it).
CREATE FUNCTION fogmesh_upstream_or_default(p_upstream text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN cardinality(p_upstream) = 0 AND fogmesh_default_router_id() IS NOT NULL
              THEN '{default-router}'::text[] ELSE p_upstream END
$$;

-- The router part of creating the fog `f` (a row just inserted, upstream_routers already final).
CREATE FUNCTION fogmesh_create_fog_router(f fogs, p_msvc text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_edge boolean := f.router_mode = 'edge';
  v_messaging integer := coalesce(f.messaging_port, 5672);
  v_inter integer := CASE WHEN f.router_mode = 'edge' THEN NULL ELSE f.inter_router_port END;
  v_edge_port integer := CASE WHEN f.router_mode = 'edge' THEN NULL ELSE f.edge_router_port END;
  v_dest routers%ROWTYPE;
  v_up text;
  v_port integer;
  v_listeners text;
  v_connectors text := '';
  v_config text;
BEGIN
  IF f.router_mode = 'none' THEN
    RETURN;
  END IF;
  IF f.is_system THEN
    RAISE EXCEPTION 'fogmesh_create_fog_router: system fog % needs the general path', f.uuid;
  END IF;

  -- The rendered config: the same bytes as router_model.cpp's render() (compact JSON, upstream's
  -- key order, empty lists left out). The new router is none of its upstreams: its fog's uuid
  -- is new and it is not the default router.
  v_listeners := '{"role":"normal","host":"0.0.0.0","port":' || v_messaging || '}';
  IF v_inter IS NOT NULL THEN
    v_listeners := v_listeners || ',{"role":"inter-router","host":"0.0.0.0","port":' ||
                   v_inter || '}';
  END IF;
  IF v_edge_port IS NOT NULL THEN
    v_listeners := v_listeners || ',{"role":"edge","host":"0.0.0.0","port":' || v_edge_port || '}';
  END IF;
  FOREACH v_up IN ARRAY f.upstream_routers LOOP
    IF v_up = 'default-router' THEN
      SELECT * INTO v_dest FROM routers WHERE id = fogmesh_default_router_id();
    ELSE
      SELECT * INTO v_dest FROM routers WHERE iofog_uuid = v_up LIMIT 1;
    END IF;
    CONTINUE WHEN NOT FOUND OR v_dest.is_edge;
    v_port := CASE WHEN v_edge THEN v_dest.edge_router_port ELSE v_dest.inter_router_port END;
    CONTINUE WHEN v_port IS NULL;
    v_connectors := v_connectors || CASE WHEN v_connectors = '' THEN '' ELSE ',' END ||
                    '{"name":' || to_json(coalesce(v_dest.iofog_uuid, 'default-router'))::text ||
                    ',"role":"' || CASE WHEN v_edge THEN 'edge' ELSE 'inter-router' END ||
                    '","host":' || to_json(coalesce(v_dest.host, ''))::text ||
                    ',"port":' || v_port || '}';
  END LOOP;
  v_config := '{"mode":"' || CASE WHEN v_edge THEN 'edge' ELSE 'interior' END || '","id":' ||
              to_json(f.uuid)::text || ',"listeners":[' || v_listeners || ']' ||
              CASE WHEN v_connectors = '' THEN '' ELSE ',"connectors":[' || v_connectors || ']' END ||
              '}';

  -- Its Router row, system application `system-<uuid>` (an existing one of that name is used),
  -- router microservice (catalog item 1) with status and images, and one host port mapping per
  -- listener port, rebuild set. Foreign keys between these rows are checked at the end of the
  -- statement, when all of them are there.
  WITH router AS (
    INSERT INTO routers (iofog_uuid, is_edge, host, messaging_port, edge_router_port,
                         inter_router_port, is_default)
    VALUES (f.uuid, v_edge, f.host, v_messaging, v_edge_port, v_inter, false)
  ), app AS (
    INSERT INTO applications (name, description, is_activated, is_system, user_id)
    VALUES ('system-' || f.uuid, 'System microservices of agent ' || f.uuid, true, true,
            f.user_id)
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
  ), msvc AS (
    INSERT INTO microservices (uuid, name, config, catalog_item_id, registry_id, iofog_uuid,
                               application_id, root_host_access, log_size, rebuild, user_id)
    SELECT p_msvc, 'Router for Fog ' || f.uuid, v_config, c.id, c.registry_id, f.uuid,
           coalesce((SELECT id FROM app),
                    (SELECT a.id FROM applications a
                     WHERE a.user_id = f.user_id AND a.name = 'system-' || f.uuid)),
           false, 1, true, f.user_id
    FROM catalog_items c WHERE c.id = 1
    RETURNING uuid
  ), status AS (
    INSERT INTO microservice_status (microservice_uuid) SELECT uuid FROM msvc
  ), images AS (
    INSERT INTO microservice_images (microservice_uuid, fog_type_id, container_image)
    SELECT m.uuid, i.fog_type_id, i.container_image
    FROM msvc m, catalog_item_images i WHERE i.catalog_item_id = 1
  )
  INSERT INTO microservice_ports (microservice_uuid, port_internal, port_external)
  SELECT DISTINCT m.uuid, p, p
  FROM msvc m, unnest(ARRAY[v_messaging, v_inter, v_edge_port]) p
  WHERE p IS NOT NULL;
END
$$;

-- 0013's entry point, kept for controllers of the previous version sharing this database during
-- an upgrade: the same rows through the new function.
CREATE OR REPLACE FUNCTION fogmesh_new_fog_router(p_fog text, p_msvc text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  f fogs%ROWTYPE;
BEGIN
  SELECT * INTO f FROM fogs WHERE uuid = p_fog;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'fogmesh_new_fog_router: no fog %', p_fog;
  END IF;
  IF f.router_mode <> 'none' AND NOT f.is_system AND
     f.upstream_routers IS DISTINCT FROM fogmesh_upstream_or_default(f.upstream_routers) THEN
    f.upstream_routers := fogmesh_upstream_or_default(f.upstream_routers);
    UPDATE fogs SET upstream_routers = f.upstream_routers WHERE uuid = p_fog;
  END IF;
  PERFORM fogmesh_create_fog_router(f, p_msvc);
END
$$;
