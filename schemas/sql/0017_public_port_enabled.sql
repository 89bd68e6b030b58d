-- Public ports can be switched off without losing them: `public: {enabled: false}` keeps the
-- allocation (public router, public port, address) reserved and reported, but no router renders
-- its listener or connector and the port manager's list leaves it out. Enabling it again serves
-- the same port on the same address.
ALTER TABLE microservice_public_ports
  ADD COLUMN IF NOT EXISTS enabled boolean NOT NULL DEFAULT true;
