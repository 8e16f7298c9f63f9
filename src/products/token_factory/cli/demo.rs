//! `aicloud tf demo`: what a first `make run` needs to be useful at once. An organization
//! `demo` with a service account and a key for the demo models, prices for them, and a
//! promotional grant to spend; then a curl line and a Python snippet to paste.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::kit::cli::{CliError, Output, print};
use crate::platform::billing::{Credit, Ledger, NewGrant, NewPrice, Pricing};
use crate::platform::iam::{Caller, KeyHolder, Keys, NewKey, OrgKind, Tenancy};
use crate::products::token_factory::gateway::finish::{
    INPUT_TOKENS, MODEL_RESOURCE, OUTPUT_TOKENS, REQUESTS,
};
use crate::products::token_factory::{INFERENCE, MODELS_READ, PRODUCT};

/// The demo organization's slug.
const ORG: &str = "demo";
/// Cents the demo organization may spend.
const GRANT_MINOR: i64 = 1_000;

/// The platform services the demo is made with.
pub struct DemoHandles<'a> {
    /// Organizations.
    pub tenancy: &'a dyn Tenancy,
    /// Service accounts and keys.
    pub keys: &'a dyn Keys,
    /// Prices.
    pub pricing: &'a dyn Pricing,
    /// The grant.
    pub ledger: &'a dyn Ledger,
    /// The server's own address, `http://host:port`.
    pub server_url: String,
    /// The billing currency.
    pub currency: String,
}

/// What `demo` made.
#[derive(Debug, Serialize)]
struct Made {
    organization: &'static str,
    project: &'static str,
    service_account: &'static str,
    key: String,
    base_url: String,
}

/// Per-token prices of the demo models, in minor units: (model, unit, price).
const PRICES: &[(&str, &str, &str)] = &[
    ("demo-echo", INPUT_TOKENS, "0.0001"),
    ("demo-echo", OUTPUT_TOKENS, "0.0002"),
    ("demo-echo", REQUESTS, "0"),
    ("demo-embed", INPUT_TOKENS, "0.00002"),
    ("demo-embed", OUTPUT_TOKENS, "0"),
    ("demo-embed", REQUESTS, "0"),
];

pub(super) async fn run(
    h: &DemoHandles<'_>,
    if_absent: bool,
    base_url: Option<&str>,
    out: &Output,
) -> Result<(), CliError> {
    let console = Caller::operator();
    let failed = |what: &str, err: &dyn std::fmt::Display| CliError::new(format!("{what}: {err}"));
    let orgs = h
        .tenancy
        .organizations()
        .await
        .map_err(|e| failed("listing organizations", &e))?;
    if orgs.iter().any(|o| o.slug == ORG) {
        if if_absent {
            println!(
                "The demo organization exists already; its key was shown when it was made (issue another with `aicloud key issue`)."
            );
            return Ok(());
        }
        return Err(CliError::new("the demo organization exists already"));
    }
    h.tenancy
        .create_organization(&console, ORG, "Demo", OrgKind::Team, None)
        .await
        .map_err(|e| failed("creating the demo organization", &e))?;
    let sa = h
        .keys
        .create_service_account(
            &console,
            ORG,
            "default",
            "demo-app",
            "demo",
            "Calls the demo models from the quickstart",
        )
        .await
        .map_err(|e| failed("creating the demo service account", &e))?;
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "quickstart".into(),
        scopes: vec![INFERENCE.into(), MODELS_READ.into()],
        model_allowlist: None,
        expires_at: None,
    };
    let issued = h
        .keys
        .issue_key(&console, key)
        .await
        .map_err(|e| failed("issuing the demo key", &e))?;
    price(h, &console).await?;
    let grant = NewGrant {
        credit: Credit {
            amount_minor: GRANT_MINOR,
            reason: "demo credit".into(),
        },
        priority: 0,
        expires_at: None,
    };
    h.ledger
        .grant(&console, ORG, grant)
        .await
        .map_err(|e| failed("granting demo credit", &e))?;
    let base = format!(
        "{}/v1",
        base_url.unwrap_or(&h.server_url).trim_end_matches('/')
    );
    let made = Made {
        organization: ORG,
        project: "default",
        service_account: "demo-app",
        key: issued.secret,
        base_url: base,
    };
    print(out, &made, &instructions(&made))
}

async fn price(h: &DemoHandles<'_>, console: &Caller) -> Result<(), CliError> {
    for (model, unit, minor) in PRICES {
        let unit_price_minor: Decimal = minor
            .parse()
            .map_err(|_| CliError::new("a demo price does not parse"))?;
        let price = NewPrice {
            product: PRODUCT.into(),
            unit: (*unit).into(),
            resource_type: Some(MODEL_RESOURCE.into()),
            resource_id: Some((*model).into()),
            currency: h.currency.clone(),
            unit_price_minor,
            effective_from: None,
            effective_to: None,
        };
        h.pricing
            .set_price(console, price)
            .await
            .map_err(|e| CliError::new(format!("pricing {model}: {e}")))?;
    }
    Ok(())
}

fn instructions(m: &Made) -> String {
    format!(
        r#"Demo organization `{org}`, project `{project}`: a key for service account `{sa}` (shown only now):

    {key}

Call the demo model with curl:

    curl {base}/chat/completions -H "Authorization: Bearer {key}" -H "Content-Type: application/json" -d '{{"model": "demo-echo", "messages": [{{"role": "user", "content": "Hello, Token Factory"}}]}}'

Or with the openai Python package (pip install openai):

    from openai import OpenAI
    client = OpenAI(base_url="{base}", api_key="{key}")
    reply = client.chat.completions.create(model="demo-echo", messages=[{{"role": "user", "content": "Hello, Token Factory"}}])
    print(reply.choices[0].message.content, reply.usage)
"#,
        org = m.organization,
        project = m.project,
        sa = m.service_account,
        key = m.key,
        base = m.base_url,
    )
}
