-- fogmesh controller schema v14: agents without a router of their own are found by their network
-- router through an index instead of reading every fog.
--
-- router_model.cpp asks "which fogs in router mode none use router X (or the default router)"
-- whenever a router moves or goes (PUT /router, PATCH /iofog of a router's host or port, DELETE
-- /iofog of a router's fog): `router_mode = 'none' AND (network_router = $1 OR network_router IS
-- NULL ...)`, and a router's deletion re-points `WHERE network_router = $1`. Nothing indexed
-- network_router, so each of these read the whole fogs table (about 900 bytes a row).
--
-- Partial: only the rows those lookups can return, i.e. agents in router mode none (their
-- network_router may be NULL, meaning the default router) and any fog naming a network router.
-- Fogs with a router of their own and no network router (the usual POST /iofog, and the rows
-- PUT /agent/status rewrites every 10 s) are not in it, so creating them writes no entry, and
-- the status updates stay HOT (neither column changes there).
CREATE INDEX fogs_network_router ON fogs (network_router)
  WHERE router_mode = 'none' OR network_router IS NOT NULL;
