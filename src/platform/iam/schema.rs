//! Tables of schema `iam`. Private to the module.

diesel::table! {
    iam.organizations (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        kind -> Text,
        state -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    iam.departments (id) {
        id -> Uuid,
        organization_id -> Uuid,
        slug -> Text,
        name -> Text,
        is_default -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    iam.projects (id) {
        id -> Uuid,
        organization_id -> Uuid,
        department_id -> Uuid,
        slug -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    iam.service_accounts (id) {
        id -> Uuid,
        organization_id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        owner -> Text,
        purpose -> Text,
        created_at -> Timestamptz,
        state -> Text,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    iam.api_keys (id) {
        id -> Uuid,
        prefix -> Text,
        secret_sha256 -> Text,
        name -> Text,
        organization_id -> Uuid,
        department_id -> Uuid,
        project_id -> Uuid,
        service_account_id -> Nullable<Uuid>,
        user_id -> Nullable<Uuid>,
        scopes -> Array<Text>,
        model_allowlist -> Nullable<Array<Text>>,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    iam.users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        state -> Text,
        last_sign_in_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        email_verified_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    iam.platform_roles (user_id, role) {
        user_id -> Uuid,
        role -> Text,
        granted_at -> Timestamptz,
    }
}

diesel::table! {
    iam.sessions (token_sha256) {
        token_sha256 -> Text,
        user_id -> Uuid,
        csrf_token -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    iam.sign_in_failures (id) {
        id -> Int8,
        email -> Text,
        client_ip -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    iam.org_memberships (organization_id, user_id) {
        organization_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    iam.project_memberships (project_id, user_id) {
        project_id -> Uuid,
        organization_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    iam.role_bindings (id) {
        id -> Uuid,
        organization_id -> Uuid,
        project_id -> Nullable<Uuid>,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    iam.invitations (id) {
        id -> Uuid,
        organization_id -> Uuid,
        email -> Text,
        role -> Text,
        token_sha256 -> Text,
        invited_by -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
    }
}

diesel::joinable!(departments -> organizations (organization_id));
diesel::joinable!(projects -> organizations (organization_id));
diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(platform_roles -> users (user_id));
diesel::joinable!(org_memberships -> users (user_id));
diesel::joinable!(org_memberships -> organizations (organization_id));
diesel::joinable!(project_memberships -> users (user_id));
diesel::joinable!(project_memberships -> projects (project_id));
diesel::joinable!(role_bindings -> users (user_id));
diesel::joinable!(invitations -> organizations (organization_id));
diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    departments,
    projects,
    service_accounts,
    api_keys,
    users,
    platform_roles,
    sessions,
    sign_in_failures,
    org_memberships,
    project_memberships,
    role_bindings,
    invitations
);
