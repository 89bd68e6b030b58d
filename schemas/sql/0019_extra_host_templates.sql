-- A microservice's extraHosts element is {name, address} plus, when `address` is a template
-- (Agents.<agent>, Apps.<app>.<msvc>.local, Apps.<app>.<msvc>.public.<port> in dollar-braces;
-- not spelled out here: CMake pastes this file into a string and would expand them), what it
-- points at, checked when written: templateType 'Agents' + targetFogUuid, or 'Apps' +
-- targetMicroserviceUuid (+ publicPort). The address is resolved when read, so it follows an
-- agent's new host or a moved microservice without rewriting anyone's rows. NULL: the target is
-- gone (the agent leaves that entry out of /etc/hosts rather than writing a template there).
-- An agent resolves to its host, or the address it reports when it has none; a public port to
-- its public router's host, as the port's links are built (api_application.cpp PORT_JSON_SQL).
CREATE OR REPLACE FUNCTION extra_host_value(h jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN h ->> 'templateType' = 'Agents' THEN
      (SELECT coalesce(nullif(f.host, ''), f.ip_address) FROM fogs f
        WHERE f.uuid = h ->> 'targetFogUuid')
    WHEN h ->> 'templateType' = 'Apps' AND h ? 'publicPort' THEN
      (SELECT coalesce(r.host, (SELECT value FROM controller_config
                                 WHERE key = 'default-proxy-host'))
         FROM microservice_public_ports pp LEFT JOIN routers r ON r.iofog_uuid = pp.host_key
        WHERE pp.microservice_uuid = h ->> 'targetMicroserviceUuid'
          AND pp.public_port = (h ->> 'publicPort')::integer)
    WHEN h ->> 'templateType' = 'Apps' THEN
      (SELECT coalesce(nullif(f.host, ''), f.ip_address) FROM microservices m
         JOIN fogs f ON f.uuid = m.iofog_uuid
        WHERE m.uuid = h ->> 'targetMicroserviceUuid')
    ELSE h ->> 'address'
  END
$$;
