//! What every page's layout needs: title, navigation and asset links.

/// A portal area and the module whose presence enables it.
pub struct Area {
    /// Label in the navigation.
    pub title: &'static str,
    /// Module that serves the area.
    pub module: &'static str,
    /// Where the area's pages start.
    pub href: &'static str,
    /// Path prefixes of its pages.
    pub paths: &'static [&'static str],
    /// Platform scope a person needs for it; `None`: everyone signed in.
    pub scope: Option<&'static str>,
}

/// The areas of the portal, in navigation order. An area is a link once its module is
/// present; until then it is shown, greyed, so operators see what is coming.
pub const AREAS: &[Area] = &[
    Area {
        title: "Access",
        module: "iam",
        href: "/access",
        paths: &["/access", "/account", "/invitations"],
        scope: None,
    },
    Area {
        title: "Billing",
        module: "billing",
        href: "/billing",
        paths: &["/billing"],
        scope: Some("platform.billing.read"),
    },
    Area {
        title: "Policy",
        module: "policy",
        href: "/policy",
        paths: &["/policy"],
        scope: Some("platform.policy.read"),
    },
    Area {
        title: "Products",
        module: "registry",
        href: "/products",
        paths: &["/products", "/registry"],
        scope: Some("platform.registry.read"),
    },
    Area {
        title: "Audit",
        module: "audit",
        href: "/audit",
        paths: &["/audit"],
        scope: Some("platform.audit.read"),
    },
    Area {
        title: "Events",
        module: "events",
        href: "/events/dead-letters",
        paths: &["/events"],
        scope: Some("platform.events.read"),
    },
    Area {
        title: "Evidence",
        module: "evidence",
        href: "/evidence",
        paths: &["/evidence"],
        scope: Some("platform.evidence.read"),
    },
    Area {
        title: "Status",
        module: "status",
        href: "/status",
        paths: &["/status"],
        scope: Some("platform.status.manage"),
    },
    Area {
        title: "Token Factory",
        module: "token_factory",
        href: "/token-factory",
        paths: &["/token-factory"],
        scope: Some("platform.admin"),
    },
];

/// The platform scopes the signed-in person holds (from platform roles), set by the gate.
#[derive(Debug, Clone, Default)]
pub struct PlatformScopes(pub std::collections::BTreeSet<String>);

/// The area a portal path belongs to.
pub fn area_of(path: &str) -> Option<&'static Area> {
    AREAS.iter().find(|area| {
        area.paths.iter().any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    })
}

/// One navigation entry as rendered.
pub struct NavItem {
    /// Label.
    pub title: &'static str,
    /// Platform scope it needs.
    pub scope: Option<&'static str>,
    /// Link, when the area's module is present.
    pub href: Option<&'static str>,
    /// Whether the current page belongs to this area.
    pub current: bool,
}

/// Shared fields of every page.
pub struct Layout {
    /// Page title.
    pub title: String,
    /// Navigation entries.
    pub nav: Vec<NavItem>,
    /// Versioned stylesheet link.
    pub css_href: String,
    /// Versioned favicon link.
    pub icon_href: String,
    /// Versioned script link (copy buttons).
    pub script_href: String,
    /// Server version for the footer.
    pub version: &'static str,
    /// Who is signed in, when someone is.
    pub user: Option<String>,
    /// The session's CSRF token, for forms.
    pub csrf: String,
}

impl Layout {
    /// Layout for a page in area `current` (by module name), given the modules present.
    pub fn new(title: &str, current: Option<&str>, modules: &[&str]) -> Layout {
        let nav = AREAS
            .iter()
            .map(|area| NavItem {
                title: area.title,
                scope: area.scope,
                href: modules.contains(&area.module).then_some(area.href),
                current: current == Some(area.module),
            })
            .collect();
        Layout {
            title: title.to_owned(),
            nav,
            css_href: super::assets::href("app.css"),
            icon_href: super::assets::href("favicon.svg"),
            script_href: super::assets::href("copy.js"),
            version: crate::VERSION,
            user: None,
            csrf: String::new(),
        }
    }

    /// Fills in the signed-in user (set by the session middleware) and shows only the
    /// areas their roles allow (areas still to come only to platform administrators).
    pub fn signed_in(mut self, req: &actix_web::HttpRequest) -> Layout {
        use actix_web::HttpMessage;
        let current = req
            .extensions()
            .get::<crate::platform::iam::CurrentUser>()
            .cloned();
        let scopes = req
            .extensions()
            .get::<PlatformScopes>()
            .cloned()
            .unwrap_or_default();
        if let Some(current) = current {
            self.nav.retain(|item| {
                let needs = if item.href.is_some() {
                    item.scope
                } else {
                    Some("platform.admin")
                };
                needs.is_none_or(|scope| scopes.0.contains(scope))
            });
            self.user = Some(current.user.display_name.clone());
            self.csrf = current.csrf;
        } else {
            // Someone not signed in (an invitation link) sees no areas at all.
            self.nav.clear();
        }
        self
    }
}
