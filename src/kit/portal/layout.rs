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
        // Tenants read their own organizations' billing here; each page authorizes itself.
        scope: None,
    },
    Area {
        title: "Policy",
        module: "policy",
        href: "/policy",
        paths: &["/policy"],
        // Tenants see their own organizations' limits here; each page authorizes itself.
        scope: None,
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
        // Developers see their own projects' keys and usage here; each page authorizes itself.
        scope: None,
    },
];

/// The platform scopes the signed-in person holds (from platform roles), set by the gate.
#[derive(Debug, Clone, Default)]
pub struct PlatformScopes(pub std::collections::BTreeSet<String>);

/// Who is looking at a page, as the layout shows them: set in the request's extensions by
/// whatever admitted the session (IAM's gate), so the shell names no module.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Shown in the sidebar.
    pub display_name: String,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
}

impl actix_web::FromRequest for Viewer {
    type Error = crate::kit::error::ApiError;
    type Future = std::future::Ready<Result<Viewer, Self::Error>>;

    /// Refuses a request no session gate admitted.
    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::HttpMessage;
        let viewer = req.extensions().get::<Viewer>().cloned();
        let unauthorized = || crate::kit::error::ApiError::Unauthorized("sign in first".into());
        std::future::ready(viewer.ok_or_else(unauthorized))
    }
}

/// The modules present in this build, registered once as app data by the composition
/// root; the navigation links the areas they serve.
#[derive(Debug, Clone, Copy)]
pub struct Shell {
    /// Module names, as in [`Area::module`].
    pub modules: &'static [&'static str],
}

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

    /// The layout of a page served to `req`: the areas of the modules present, and the
    /// signed-in person's part of it.
    pub fn page(title: &str, current: Option<&str>, req: &actix_web::HttpRequest) -> Layout {
        let shell = req.app_data::<actix_web::web::Data<Shell>>();
        let modules = shell.map_or(&[][..], |shell| shell.modules);
        Layout::new(title, current, modules).signed_in(req)
    }

    /// Fills in the signed-in person (the [`Viewer`] the session gate set) and shows only
    /// the areas their roles allow (areas still to come only to platform administrators).
    pub fn signed_in(mut self, req: &actix_web::HttpRequest) -> Layout {
        use actix_web::HttpMessage;
        let current = req.extensions().get::<Viewer>().cloned();
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
            self.user = Some(current.display_name);
            self.csrf = current.csrf;
        } else {
            // Someone not signed in (an invitation link) sees no areas at all.
            self.nav.clear();
        }
        self
    }
}
