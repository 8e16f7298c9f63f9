//! Tables of schema `audit`. Private to the module.

diesel::table! {
    audit.events (seq) {
        seq -> Int8,
        id -> Uuid,
        occurred_at -> Timestamptz,
        actor_kind -> Text,
        actor_id -> Text,
        actor_role -> Nullable<Text>,
        on_behalf_of -> Nullable<Text>,
        organization_id -> Nullable<Uuid>,
        department_id -> Nullable<Uuid>,
        project_id -> Nullable<Uuid>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        result -> Text,
        reason -> Nullable<Text>,
        correlation_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
        retention_class -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit.digests (number) {
        number -> Int8,
        seq_from -> Int8,
        seq_to -> Int8,
        last_hash -> Text,
        prev_signature -> Text,
        key_id -> Text,
        created_at -> Timestamptz,
        signature -> Text,
    }
}
