DROP TABLE token_factory.endpoint_health;
DROP SEQUENCE token_factory.endpoint_health_version;
