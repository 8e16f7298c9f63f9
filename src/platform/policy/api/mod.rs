//! `/api/v1/policy`: plans and assignments, overrides, entitlement settings, effective snapshots with their
//! explanations, usage against limits, and decisions for out-of-process products. Handlers
//! parse, make one trait call and map; policy authorizes every call itself.

mod decisions;
mod entitlements;
mod plans;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes (and the leases held decisions keep).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.app_data(actix_web::web::Data::new(decisions::Leases::default()));
    cfg.service(
        utoipa_actix_web::scope("/api/v1/policy")
            .service(plans::list_plans)
            .service(plans::create_plan)
            .service(plans::show_plan)
            .service(plans::assign)
            .service(plans::assignments)
            .service(plans::list_overrides)
            .service(plans::set_override)
            .service(plans::clear_override)
            .service(entitlements::list_entitlements)
            .service(entitlements::set_entitlement)
            .service(entitlements::clear_entitlement)
            .service(decisions::effective)
            .service(decisions::usage)
            .service(decisions::decide)
            .service(decisions::settle),
    );
}
