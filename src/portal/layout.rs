//! What every page's layout needs: title, navigation and asset links.

/// A portal area and the module whose presence enables it.
pub struct Area {
    /// Label in the navigation.
    pub title: &'static str,
    /// Module that serves the area.
    pub module: &'static str,
    /// Where the area's pages start.
    pub href: &'static str,
}

/// The areas of the portal, in navigation order. An area is a link once its module is
/// present; until then it is shown, greyed, so operators see what is coming.
pub const AREAS: &[Area] = &[
    Area {
        title: "Access",
        module: "iam",
        href: "/access",
    },
    Area {
        title: "Billing",
        module: "billing",
        href: "/billing",
    },
    Area {
        title: "Policy",
        module: "policy",
        href: "/policy",
    },
    Area {
        title: "Products",
        module: "registry",
        href: "/products",
    },
    Area {
        title: "Audit",
        module: "audit",
        href: "/audit",
    },
    Area {
        title: "Events",
        module: "events",
        href: "/events/dead-letters",
    },
    Area {
        title: "Evidence",
        module: "evidence",
        href: "/evidence",
    },
    Area {
        title: "Status",
        module: "status",
        href: "/status",
    },
    Area {
        title: "Token Factory",
        module: "token_factory",
        href: "/token-factory",
    },
];

/// The area every signed-in person may use.
const TENANT_AREA: &str = "Access";

/// One navigation entry as rendered.
pub struct NavItem {
    /// Label.
    pub title: &'static str,
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
    /// areas their roles allow: Access is everyone's; the rest is platform administration.
    pub fn signed_in(mut self, req: &actix_web::HttpRequest) -> Layout {
        use actix_web::HttpMessage;
        let current = req
            .extensions()
            .get::<crate::platform::iam::CurrentUser>()
            .cloned();
        if let Some(current) = current {
            if !current.user.is_platform_admin() {
                self.nav.retain(|item| item.title == TENANT_AREA);
            }
            self.user = Some(current.user.display_name.clone());
            self.csrf = current.csrf;
        }
        self
    }
}
