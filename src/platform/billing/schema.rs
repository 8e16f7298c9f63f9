//! Tables of schema `billing`. Private to the module.

diesel::table! {
    billing.prices (id) {
        id -> Uuid,
        product -> Text,
        unit -> Text,
        resource_type -> Text,
        resource_id -> Text,
        currency -> Text,
        unit_price_minor -> Numeric,
        effective_from -> Timestamptz,
        effective_to -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    billing.accounts (id) {
        id -> Uuid,
        organization_id -> Nullable<Uuid>,
        kind -> Text,
        currency -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    billing.account_balances (account_id, grant_key) {
        account_id -> Uuid,
        grant_key -> Uuid,
        amount_minor -> Numeric,
    }
}

diesel::table! {
    billing.journal (id) {
        id -> Uuid,
        seq -> Int8,
        organization_id -> Nullable<Uuid>,
        kind -> Text,
        source_type -> Text,
        source_id -> Text,
        corrects -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        actor -> Text,
        correlation_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    billing.grants (id) {
        id -> Uuid,
        organization_id -> Uuid,
        currency -> Text,
        amount_minor -> Numeric,
        priority -> Int4,
        expires_at -> Nullable<Timestamptz>,
        reason -> Text,
        journal_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    billing.postings (id) {
        id -> Int8,
        journal_id -> Uuid,
        account_id -> Uuid,
        currency -> Text,
        grant_id -> Nullable<Uuid>,
        amount_minor -> Numeric,
    }
}

diesel::table! {
    billing.credit_lines (id) {
        id -> Uuid,
        organization_id -> Uuid,
        currency -> Text,
        limit_minor -> Numeric,
        reason -> Text,
        set_by -> Text,
        set_at -> Timestamptz,
        seq -> Int8,
    }
}

diesel::table! {
    billing.usage_events (id) {
        id -> Uuid,
        product -> Text,
        event_id -> Text,
        unit -> Text,
        quantity -> Numeric,
        organization_id -> Uuid,
        department_id -> Uuid,
        project_id -> Uuid,
        actor_kind -> Text,
        actor_id -> Text,
        resource_type -> Text,
        resource_id -> Text,
        usage_source -> Text,
        occurred_at -> Timestamptz,
        received_at -> Timestamptz,
        correlation_id -> Nullable<Text>,
        attributes -> Jsonb,
        batch_id -> Uuid,
    }
}

diesel::table! {
    billing.usage_totals (organization_id, period, project_id, actor_kind, actor_id, unit) {
        organization_id -> Uuid,
        project_id -> Uuid,
        actor_kind -> Text,
        actor_id -> Text,
        unit -> Text,
        period -> Text,
        quantity -> Numeric,
    }
}

diesel::table! {
    billing.usage_captures (journal_id) {
        journal_id -> Uuid,
        batch_id -> Uuid,
        organization_id -> Uuid,
        captured_at -> Timestamptz,
        posted_at -> Nullable<Timestamptz>,
        failures -> Int4,
    }
}

diesel::table! {
    billing.ratings (usage_id) {
        usage_id -> Uuid,
        price_id -> Uuid,
        price_version -> Int4,
        currency -> Text,
        unit_price_minor -> Numeric,
        amount_minor -> Numeric,
        journal_id -> Nullable<Uuid>,
        rated_at -> Timestamptz,
    }
}

diesel::table! {
    billing.balance_states (seq) {
        seq -> Int8,
        organization_id -> Uuid,
        currency -> Text,
        state -> Text,
        available_minor -> Numeric,
        journal_id -> Nullable<Uuid>,
        at -> Timestamptz,
    }
}

diesel::table! {
    billing.payments (id) {
        id -> Uuid,
        provider -> Text,
        provider_event_id -> Text,
        event_type -> Text,
        organization_id -> Nullable<Uuid>,
        amount_minor -> Nullable<Numeric>,
        currency -> Nullable<Text>,
        status -> Text,
        reason -> Nullable<Text>,
        journal_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
    }
}

diesel::joinable!(postings -> journal (journal_id));
diesel::joinable!(postings -> accounts (account_id));
diesel::joinable!(ratings -> usage_events (usage_id));
diesel::allow_tables_to_appear_in_same_query!(
    prices,
    accounts,
    journal,
    grants,
    postings,
    credit_lines,
    usage_events,
    usage_captures,
    ratings,
    balance_states,
    payments,
);
