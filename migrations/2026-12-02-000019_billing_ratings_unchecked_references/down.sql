ALTER TABLE billing.ratings
    ADD CONSTRAINT ratings_usage_id_fkey FOREIGN KEY (usage_id) REFERENCES billing.usage_events (id),
    ADD CONSTRAINT ratings_price_id_fkey FOREIGN KEY (price_id) REFERENCES billing.prices (id),
    ADD CONSTRAINT ratings_journal_id_fkey FOREIGN KEY (journal_id) REFERENCES billing.journal (id);
