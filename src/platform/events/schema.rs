//! Tables of schema `events`. Private to the module.

diesel::table! {
    events.outbox (seq) {
        seq -> Int8,
        event_id -> Uuid,
        event_type -> Text,
        version -> Text,
        occurred_at -> Timestamptz,
        correlation_id -> Nullable<Text>,
        payload -> Jsonb,
        fanned_out -> Bool,
    }
}

diesel::table! {
    events.consumers (name) {
        name -> Text,
        subjects -> Array<Text>,
        registered_at -> Timestamptz,
    }
}

diesel::table! {
    events.deliveries (event_seq, consumer) {
        event_seq -> Int8,
        consumer -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        leased_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    events.dead_letters (id) {
        id -> Uuid,
        event_seq -> Int8,
        consumer -> Text,
        attempts -> Int4,
        error -> Text,
        dead_at -> Timestamptz,
        replayed_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(deliveries -> outbox (event_seq));
diesel::allow_tables_to_appear_in_same_query!(outbox, consumers, deliveries, dead_letters);
