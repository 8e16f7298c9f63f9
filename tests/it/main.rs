//! The one integration test binary: each module is a `mod` here so everything links once.
//! Every test starts the real server against a fresh database of its own.

#![expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]

mod helpers;

mod api_fuzz;
mod audit;
mod audit_completeness;
mod audit_export;
mod audit_pages;
mod billing_adjustments;
mod billing_capture;
mod billing_crash;
mod billing_ingest;
mod billing_ledger;
mod billing_pages;
mod billing_payments;
mod billing_properties;
mod billing_statements;
mod billing_support;
mod boundaries;
mod check_cli;
mod config;
mod db_reconnect;
mod db_snapshot;
mod events;
mod events_admin;
mod events_restart;
mod harness;
mod health;
mod iam_access;
mod iam_authorization;
mod iam_browser;
mod iam_consent;
mod iam_disable;
mod iam_escalation;
mod iam_isolation;
mod iam_key_ends;
mod iam_key_reach;
mod iam_key_use;
mod iam_keys;
mod iam_pages;
mod iam_people;
mod iam_tenancy;
mod iam_tenants;
mod input_hygiene;
mod migrations;
mod packet_rules;
mod policy_cli_pages;
mod policy_decisions;
mod policy_http;
mod policy_imposed;
mod policy_quota;
mod policy_support;
mod portal;
mod portal_gate;
mod portal_signin;
mod problems;
mod registry;
mod registry_cli;
mod registry_pages;
mod schema_drift;
mod secrets_scan;
mod security_headers;
mod shutdown;
mod tf_cli;
mod tf_crash;
mod tf_entitlements;
mod tf_gateway;
mod tf_mock;
mod tf_pages;
mod tf_refusals;
mod tf_sdks;
mod tf_support;
mod tf_upstreams;
