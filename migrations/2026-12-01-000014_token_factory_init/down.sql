DROP SCHEMA token_factory CASCADE;
