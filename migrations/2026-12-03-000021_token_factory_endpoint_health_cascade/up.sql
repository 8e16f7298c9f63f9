-- An endpoint's shared health goes with the endpoint: removing it from the catalog deletes
-- its record in the same transaction, and a transition a process reports for an endpoint
-- removed meanwhile cannot bring one back. Before this a removed endpoint kept its row.
DELETE FROM token_factory.endpoint_health h
WHERE NOT EXISTS (SELECT 1 FROM token_factory.endpoints e WHERE e.id = h.endpoint_id);

ALTER TABLE token_factory.endpoint_health
    ADD CONSTRAINT endpoint_health_endpoint_fkey FOREIGN KEY (endpoint_id)
    REFERENCES token_factory.endpoints (id) ON DELETE CASCADE;
