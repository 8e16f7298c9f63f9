//! Policy decisions per second from memory: 16 threads on one hot project, then spread over
//! 10,000 projects, each decision asking for requests, tokens and a concurrency slot; beside
//! an uncontended atomic increment per thread as the baseline, with p50/p99 per decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aicloud::app::Platform;
use aicloud::platform::iam::{Caller, OrgKind, OrganizationId, ProjectId};
use aicloud::platform::policy::{DecisionInput, Delta, NewPlan, PlanLimit, Value};

use super::rate;

const THREADS: usize = 16;
const PER_THREAD: usize = 200_000;
const PROJECTS: usize = 10_000;

fn console() -> Caller {
    Caller::Console("bench".into())
}

fn input(org: uuid::Uuid, project: uuid::Uuid) -> DecisionInput {
    let delta = |d: &str, n| Delta {
        dimension: d.into(),
        amount: n,
    };
    DecisionInput {
        organization: OrganizationId(org),
        project: ProjectId(project),
        principal: None,
        api_key: None,
        product: "token_factory".into(),
        resource: None,
        action: None,
        deltas: vec![
            delta("token_factory.requests_per_minute", 1),
            delta("token_factory.tokens_per_minute", 512),
            delta("token_factory.concurrent_requests", 1),
        ],
        entitlements: Vec::new(),
    }
}

pub async fn policy(platform: &Arc<Platform>) {
    super::token_factory_onboarded(platform).await;
    let limit = |d: &str, n| PlanLimit {
        dimension: d.into(),
        resource_type: None,
        resource_id: None,
        value: Value::Limit(n),
        delegate: false,
    };
    let plan = NewPlan {
        name: "bench".into(),
        description: "limits high enough that every decision is checked and admitted".into(),
        products: vec!["*".into()],
        limits: vec![
            limit("token_factory.requests_per_minute", 1_000_000_000_000),
            limit("token_factory.tokens_per_minute", 1_000_000_000_000_000),
            limit("token_factory.concurrent_requests", 1_000_000),
        ],
    };
    platform
        .plans
        .create_plan(&console(), plan)
        .await
        .expect("plan");
    let org = platform
        .iam
        .create_organization(
            &console(),
            "policy-bench",
            "Policy bench",
            OrgKind::Team,
            None,
        )
        .await
        .expect("org");
    platform
        .plans
        .assign(&console(), "policy-bench", "bench", None)
        .await
        .expect("assigned");
    let started = Instant::now();
    let mut projects = vec![org.project.id];
    for n in 1..PROJECTS {
        let p = platform
            .iam
            .create_project(
                &console(),
                "policy-bench",
                &format!("p{n}"),
                &format!("P {n}"),
                None,
            )
            .await
            .expect("project");
        projects.push(p.id);
    }
    println!(
        "{:<44} {:>14.0}",
        "(setup) projects created",
        rate(PROJECTS - 1, started)
    );
    while platform
        .iam
        .project_by_id(ProjectId(projects[PROJECTS - 1]))
        .is_none()
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    baseline();
    let hot: Vec<DecisionInput> = vec![input(org.organization.id, org.project.id)];
    let many: Vec<DecisionInput> = projects
        .iter()
        .map(|p| input(org.organization.id, *p))
        .collect();
    decisions(platform, &hot, "policy decide, 16 threads, 1 hot project");
    decisions(
        platform,
        &many,
        "policy decide, 16 threads, 10,000 projects",
    );
}

fn baseline() {
    let counters: Vec<AtomicU64> = (0..THREADS).map(|_| AtomicU64::new(0)).collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in &counters {
            s.spawn(move || {
                for _ in 0..PER_THREAD * 10 {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    println!(
        "{:<44} {:>14.0}",
        "baseline: atomic increment, 16 threads",
        rate(THREADS * PER_THREAD * 10, started)
    );
}

fn decisions(platform: &Arc<Platform>, inputs: &[DecisionInput], label: &str) {
    let started = Instant::now();
    let samples: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(PER_THREAD / 16);
                    for i in 0..PER_THREAD {
                        let input = &inputs[(t * 7919 + i) % inputs.len()];
                        let timed = i % 16 == 0;
                        let at = timed.then(Instant::now);
                        let (d, admission) = platform.decisions.decide(std::hint::black_box(input));
                        drop(admission);
                        if let Some(at) = at {
                            lat.push(at.elapsed().as_nanos() as u64);
                        }
                        assert!(d.admitted(), "{d:?}");
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    println!("{label:<44} {:>14.0}", rate(THREADS * PER_THREAD, started));
    let mut all: Vec<u64> = samples.into_iter().flatten().collect();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{:<44} {:>11} ns / {} ns",
        "  p50 / p99 per decision",
        at(0.50),
        at(0.99)
    );
}
