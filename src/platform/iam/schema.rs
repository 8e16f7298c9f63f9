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

diesel::joinable!(departments -> organizations (organization_id));
diesel::joinable!(projects -> organizations (organization_id));
diesel::allow_tables_to_appear_in_same_query!(organizations, departments, projects);
