//! Tables of schema `registry`. Private to the module.

diesel::table! {
    registry.products (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        description -> Text,
        lifecycle -> Text,
        declared_lifecycle -> Text,
        identity -> Jsonb,
        ownership -> Jsonb,
        current_revision_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    registry.revisions (id) {
        id -> Uuid,
        product_id -> Text,
        number -> Int4,
        sha256 -> Text,
        format -> Text,
        source -> Text,
        normalized -> Jsonb,
        diff -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    registry.entries (family, id) {
        family -> Text,
        id -> Text,
        product_id -> Text,
        version -> Int4,
        state -> Text,
        description -> Text,
        attributes -> Jsonb,
        not_applicable -> Nullable<Jsonb>,
        revision_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(products, revisions, entries);
