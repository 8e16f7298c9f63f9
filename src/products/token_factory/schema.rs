//! Diesel tables of schema `token_factory` (private to the product).

diesel::table! {
    token_factory.changes (id) {
        id -> Int8,
        what -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    token_factory.models (id) {
        id -> Text,
        display_name -> Text,
        kind -> Text,
        context_length -> Int4,
        max_output_tokens -> Int4,
        fallbacks -> Array<Text>,
        premium -> Bool,
        state -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    token_factory.endpoints (id) {
        id -> Uuid,
        model_id -> Text,
        name -> Text,
        base_url -> Text,
        upstream_model -> Text,
        credential_env -> Nullable<Text>,
        weight -> Int4,
        timeout_ms -> Int4,
        max_in_flight -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    token_factory.requests (request_id) {
        request_id -> Text,
        occurred_at -> Timestamptz,
        organization_id -> Uuid,
        department_id -> Uuid,
        project_id -> Uuid,
        key_prefix -> Text,
        route -> Text,
        model -> Text,
        endpoint -> Nullable<Text>,
        status -> Int4,
        error_code -> Nullable<Text>,
        stream -> Bool,
        input_tokens -> Int8,
        output_tokens -> Int8,
        estimated -> Bool,
        upstream_input_tokens -> Nullable<Int8>,
        upstream_output_tokens -> Nullable<Int8>,
        counted_input_tokens -> Int8,
        counted_output_tokens -> Int8,
        latency_us -> Int8,
        overhead_us -> Int8,
        first_token_us -> Nullable<Int8>,
    }
}

diesel::table! {
    token_factory.rollups (granularity, bucket_start, organization_id, project_id, model, key_prefix) {
        granularity -> Text,
        bucket_start -> Timestamptz,
        organization_id -> Uuid,
        project_id -> Uuid,
        model -> Text,
        key_prefix -> Text,
        requests -> Int8,
        errors -> Int8,
        input_tokens -> Int8,
        output_tokens -> Int8,
        latency_us_sum -> Int8,
        overhead_us_sum -> Int8,
    }
}

diesel::joinable!(endpoints -> models (model_id));
diesel::allow_tables_to_appear_in_same_query!(models, endpoints);

diesel::table! {
    token_factory.endpoint_health (endpoint_id) {
        endpoint_id -> Uuid,
        healthy -> Bool,
        version -> Int8,
        changed_at -> Timestamptz,
    }
}
