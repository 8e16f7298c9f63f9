//! Diesel tables of schema `policy` (private to the module).

diesel::table! {
    policy.changes (id) {
        id -> Int8,
        what -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    policy.plans (id) {
        id -> Uuid,
        name -> Text,
        version -> Int4,
        description -> Text,
        products -> Array<Text>,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    policy.plan_limits (plan_id, dimension, resource_type, resource_id) {
        plan_id -> Uuid,
        dimension -> Text,
        resource_type -> Text,
        resource_id -> Text,
        value_kind -> Text,
        amount -> Nullable<Int8>,
        delegate -> Bool,
    }
}

diesel::table! {
    policy.assignments (id) {
        id -> Uuid,
        organization_id -> Uuid,
        plan_name -> Text,
        effective_from -> Timestamptz,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    policy.overrides (id) {
        id -> Uuid,
        level -> Text,
        scope_id -> Text,
        organization_id -> Nullable<Uuid>,
        project_id -> Nullable<Uuid>,
        dimension -> Text,
        resource_type -> Text,
        resource_id -> Text,
        value_kind -> Text,
        amount -> Nullable<Int8>,
        delegate -> Bool,
        reason -> Text,
        author -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        cleared_at -> Nullable<Timestamptz>,
        cleared_by -> Nullable<Text>,
        imposed -> Bool,
    }
}

diesel::table! {
    policy.entitlement_settings (id) {
        id -> Uuid,
        entitlement -> Text,
        level -> Text,
        scope_id -> Text,
        organization_id -> Nullable<Uuid>,
        project_id -> Nullable<Uuid>,
        granted -> Bool,
        imposed -> Bool,
        reason -> Text,
        author -> Text,
        created_at -> Timestamptz,
        cleared_at -> Nullable<Timestamptz>,
        cleared_by -> Nullable<Text>,
    }
}

diesel::table! {
    policy.threshold_crossings (dimension, level, scope_id, resource, period, threshold_permille) {
        dimension -> Text,
        level -> Text,
        scope_id -> Text,
        resource -> Text,
        period -> Text,
        threshold_permille -> Int4,
        organization_id -> Uuid,
        limit_amount -> Int8,
        used -> Int8,
        crossed_at -> Timestamptz,
    }
}

diesel::joinable!(plan_limits -> plans (plan_id));
diesel::allow_tables_to_appear_in_same_query!(plans, plan_limits);
