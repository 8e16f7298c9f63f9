//! Composition and decisions, in process: plan, overrides, narrowing, delegation, expiry,
//! keys, per-model limits, atomic refusals and rate accuracy.

use std::time::Duration;

use aicloud::platform::iam::{KeyHolder, NewKey};
use aicloud::platform::policy::{EffectiveQuery, Level, Outcome, Reason, Status, Value};

use crate::policy_support::{CONCURRENT, MONTHLY, Policed, RPM, TPM, console, limit, model};

fn query(
    key: Option<&str>,
    resource: Option<aicloud::platform::policy::Resource>,
) -> EffectiveQuery {
    EffectiveQuery {
        organization: "acme".into(),
        project: "default".into(),
        api_key: key.map(str::to_owned),
        resource,
    }
}

async fn ceiling(
    p: &Policed,
    dimension: &str,
    key: Option<&str>,
    resource: Option<aicloud::platform::policy::Resource>,
) -> (Value, Option<Level>) {
    let effective = p
        .platform
        .decisions
        .effective(&console(), query(key, resource))
        .await
        .expect("effective");
    let d = effective
        .dimensions
        .iter()
        .find(|d| d.dimension == dimension)
        .expect("dimension listed");
    (d.ceiling, d.scope)
}

async fn key(p: &Policed) -> String {
    let sa = p
        .platform
        .keys
        .create_service_account(&console(), "acme", "default", "robot", "test", "jobs")
        .await
        .expect("service account");
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "k".into(),
        scopes: vec!["platform.iam.read".into()],
        model_allowlist: None,
        expires_at: None,
    };
    p.platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .key
        .prefix
}

#[tokio::test]
async fn plan_org_override_and_project_narrowing_compose_and_a_widening_is_refused() {
    let p = Policed::start().await;
    let fresh = ceiling(&p, RPM, None, None).await;
    assert_eq!(
        fresh,
        (Value::Unlimited, None),
        "the seeded default plan sets nothing"
    );
    p.plan("gold", vec![limit(RPM, 100)]).await;
    assert_eq!(
        ceiling(&p, RPM, None, None).await,
        (Value::Limit(100), Some(Level::Plan))
    );
    p.set(Level::Organization, RPM, Value::Limit(50), false)
        .await
        .expect("org narrows");
    p.set(Level::Project, RPM, Value::Limit(10), false)
        .await
        .expect("project narrows");
    assert_eq!(
        ceiling(&p, RPM, None, None).await,
        (Value::Limit(10), Some(Level::Project))
    );
    let wider = p
        .set(Level::Project, RPM, Value::Limit(60), false)
        .await
        .expect_err("wider than the org");
    let text = wider.to_string();
    assert!(
        text.contains("wider than the ceiling of 50") && text.contains("organization"),
        "{text}"
    );
    let unlimited = p
        .set(Level::Organization, RPM, Value::Unlimited, false)
        .await
        .expect_err("wider than the plan");
    assert!(unlimited.to_string().contains("plan level"), "{unlimited}");
    assert_eq!(
        ceiling(&p, RPM, None, None).await.0,
        Value::Limit(10),
        "a refused write changes nothing"
    );
}

#[tokio::test]
async fn a_delegating_parent_lets_the_scope_below_replace_its_value() {
    let p = Policed::start().await;
    p.plan("gold", vec![limit(RPM, 100)]).await;
    p.set(Level::Organization, RPM, Value::Limit(20), true)
        .await
        .expect("org delegates");
    p.set(Level::Project, RPM, Value::Limit(80), false)
        .await
        .expect("delegation allows a wider project value");
    assert_eq!(
        ceiling(&p, RPM, None, None).await,
        (Value::Limit(80), Some(Level::Project))
    );
    let effective = p
        .platform
        .decisions
        .effective(&console(), query(None, None))
        .await
        .expect("effective");
    let d = effective
        .dimensions
        .iter()
        .find(|d| d.dimension == RPM)
        .expect("rpm");
    let statuses: Vec<(Level, Status)> = d.considered.iter().map(|c| (c.level, c.status)).collect();
    assert_eq!(
        statuses,
        vec![
            (Level::Plan, Status::Applies),
            (Level::Organization, Status::Replaced),
            (Level::Project, Status::Applies)
        ]
    );
    let beyond = p
        .set(Level::Project, RPM, Value::Limit(150), false)
        .await
        .expect_err("the plan does not delegate");
    assert!(beyond.to_string().contains("plan level"), "{beyond}");
}

#[tokio::test]
async fn an_expired_override_stops_applying_at_its_expiry_instant() {
    let p = Policed::start().await;
    p.plan("gold", vec![limit(RPM, 100)]).await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(1500);
    p.set_full(
        Level::Project,
        RPM,
        Value::Limit(3),
        false,
        None,
        None,
        Some(expires),
    )
    .await
    .expect("temporary narrowing");
    assert_eq!(
        ceiling(&p, RPM, None, None).await,
        (Value::Limit(3), Some(Level::Project))
    );
    let before = p.decide(&[(RPM, 3)]);
    assert_eq!(before.limits[0].ceiling, Value::Limit(3));
    let wait = expires - time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(20))
        .await;
    assert_eq!(
        ceiling(&p, RPM, None, None).await,
        (Value::Limit(100), Some(Level::Plan)),
        "no job ran, no reload was needed"
    );
    let after = p.decide(&[(RPM, 50)]);
    assert_eq!(
        (after.decision, after.limits[0].ceiling),
        (Outcome::Allow, Value::Limit(100))
    );
}

#[tokio::test]
async fn a_key_is_narrower_than_its_project_and_a_model_has_its_own_limit() {
    let p = Policed::start().await;
    let mut model_limit = limit(RPM, 20);
    model_limit.resource_type = Some("token_factory.model".into());
    model_limit.resource_id = Some("demo-echo".into());
    p.plan("gold", vec![limit(RPM, 100), model_limit]).await;
    p.set(Level::Project, RPM, Value::Limit(40), false)
        .await
        .expect("project");
    let prefix = key(&p).await;
    p.set_full(
        Level::ApiKey,
        RPM,
        Value::Limit(5),
        false,
        Some(&prefix),
        None,
        None,
    )
    .await
    .expect("key narrows");
    let wider_key = p
        .set_full(
            Level::ApiKey,
            RPM,
            Value::Limit(41),
            false,
            Some(&prefix),
            None,
            None,
        )
        .await;
    assert!(wider_key.is_err(), "a key may not exceed its project");
    assert_eq!(
        ceiling(&p, RPM, Some(&prefix), None).await,
        (Value::Limit(5), Some(Level::ApiKey))
    );
    assert_eq!(
        ceiling(&p, RPM, None, None).await,
        (Value::Limit(40), Some(Level::Project))
    );
    assert_eq!(
        ceiling(&p, RPM, None, Some(model("demo-echo"))).await,
        (Value::Limit(20), Some(Level::Plan))
    );
    assert_eq!(
        ceiling(&p, RPM, None, Some(model("other"))).await,
        (Value::Limit(40), Some(Level::Project))
    );
    let mut input = p.input(&[(RPM, 1)]);
    input.api_key = Some(prefix.clone());
    for n in 0..5 {
        let (d, _) = p.platform.decisions.decide(&input);
        assert!(d.admitted(), "key request {n}");
    }
    let (refused, _) = p.platform.decisions.decide(&input);
    assert_eq!(
        (refused.decision, refused.reason),
        (Outcome::Deny, Reason::RateLimited)
    );
    assert!(
        p.decide(&[(RPM, 1)]).admitted(),
        "the project without the key still has room"
    );
}

#[tokio::test]
async fn a_request_refused_on_its_token_rate_consumes_none_of_its_request_rate() {
    let p = Policed::start().await;
    p.plan("gold", vec![limit(RPM, 10), limit(TPM, 100)]).await;
    assert!(p.decide(&[(RPM, 1), (TPM, 60)]).admitted());
    let refused = p.decide(&[(RPM, 1), (TPM, 60)]);
    assert_eq!(
        (
            refused.decision,
            refused.reason,
            refused.dimension.as_deref()
        ),
        (Outcome::Deny, Reason::RateLimited, Some(TPM))
    );
    let usage = p
        .platform
        .decisions
        .usage(&console(), query(None, None))
        .await
        .expect("usage");
    let used = |d: &str| {
        usage
            .iter()
            .find(|u| u.dimension == d)
            .expect("listed")
            .used
    };
    assert_eq!((used(RPM), used(TPM)), (1, 60), "the refusal took nothing");
    let small = p.decide(&[(RPM, 1), (TPM, 40)]);
    assert!(small.admitted(), "{small:?}");
    assert_eq!(small.limits[0].remaining, Some(8));
}

#[tokio::test]
async fn n_requests_fit_a_window_the_next_is_told_when_and_then_fits() {
    let p = Policed::start().await;
    p.plan("gold", vec![limit(RPM, 4)]).await;
    for n in 0..4 {
        let d = p.decide(&[(RPM, 1)]);
        assert!(d.admitted(), "request {n}: {d:?}");
        assert_eq!(d.limits[0].remaining, Some(3 - n));
    }
    let refused = p.decide(&[(RPM, 1)]);
    assert_eq!(
        (refused.decision, refused.reason),
        (Outcome::Deny, Reason::RateLimited)
    );
    let wait = refused.retry_after_ms.expect("a retry-after");
    assert!(
        (1..=500).contains(&wait),
        "4 per 2 s frees one every 500 ms; told {wait} ms"
    );
    tokio::time::sleep(Duration::from_millis(wait.saturating_sub(60))).await;
    assert_eq!(p.decide(&[(RPM, 1)]).decision, Outcome::Deny, "not yet");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        p.decide(&[(RPM, 1)]).admitted(),
        "allowed once the retry-after passed"
    );
}

#[tokio::test]
async fn concurrency_is_held_until_the_admission_drops_and_quotas_warn_then_run_out() {
    let p = Policed::start().await;
    p.plan("gold", vec![limit(CONCURRENT, 1), limit(MONTHLY, 1000)])
        .await;
    let (first, held) = p.platform.decisions.decide(&p.input(&[(CONCURRENT, 1)]));
    assert!(first.admitted());
    let second = p.decide(&[(CONCURRENT, 1)]);
    assert_eq!(second.reason, Reason::ConcurrencyExhausted);
    drop(held);
    assert!(p.decide(&[(CONCURRENT, 1)]).admitted());
    let (d, admission) = p.platform.decisions.decide(&p.input(&[(MONTHLY, 700)]));
    assert_eq!(d.decision, Outcome::Allow);
    let mut admission = admission.expect("admitted");
    admission.correct(&[aicloud::platform::policy::Delta {
        dimension: MONTHLY.into(),
        amount: 500,
    }]);
    let warned = p.decide(&[(MONTHLY, 350)]);
    assert_eq!(
        (warned.decision, warned.reason),
        (Outcome::Warn, Reason::NearLimit),
        "850 of 1000"
    );
    let out = p.decide(&[(MONTHLY, 200)]);
    assert_eq!(
        (out.decision, out.reason),
        (Outcome::Deny, Reason::QuotaExhausted)
    );
    assert_eq!(out.limits[0].remaining, Some(150));
}

#[tokio::test]
async fn unknown_dimensions_and_unentitled_products_fail_closed() {
    let p = Policed::start().await;
    let unknown = p.decide(&[("token_factory.no_such", 1)]);
    assert_eq!(
        (unknown.decision, unknown.reason),
        (Outcome::Deny, Reason::HardDeny)
    );
    let other = p.decide(&[("vector_store.queries_per_minute", 1)]);
    assert_eq!(
        other.reason,
        Reason::HardDeny,
        "not active (and not this product's)"
    );
    let plan = aicloud::platform::policy::NewPlan {
        name: "bare".into(),
        description: "no products".into(),
        products: vec!["platform".into()],
        limits: vec![],
    };
    p.platform
        .plans
        .create_plan(&console(), plan)
        .await
        .expect("plan");
    p.platform
        .plans
        .assign(&console(), "acme", "bare", None)
        .await
        .expect("assign");
    let refused = p.decide(&[(RPM, 1)]);
    assert_eq!(refused.reason, Reason::EntitlementMissing);
    let bad = p
        .set(
            Level::Project,
            "token_factory.no_such",
            Value::Limit(1),
            false,
        )
        .await;
    assert!(matches!(
        bad,
        Err(aicloud::platform::policy::PolicyError::Invalid {
            field: "dimension",
            ..
        })
    ));
}
