//! The landing page: version, database status and the modules present.

use actix_web::{HttpResponse, get, web};
use askama::Template;

use super::layout::{AREAS, Layout, Shell, Viewer};
use crate::base::db::{Db, NotReady};

struct ModuleRow {
    area: &'static str,
    module: &'static str,
    present: bool,
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Landing {
    layout: Layout,
    database_ok: bool,
    database_status: String,
    modules: Vec<ModuleRow>,
}

#[get("/")]
async fn landing(
    _viewer: Viewer,
    db: web::Data<Db>,
    shell: web::Data<Shell>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, crate::kit::error::ApiError> {
    let (database_ok, database_status) = match db.readiness().await {
        Ok(()) => (true, "connected, migrations current".to_owned()),
        Err(NotReady::Unreachable(cause)) => {
            log::warn!("landing page: database unreachable: {cause}");
            (false, "unreachable".to_owned())
        }
        Err(NotReady::MigrationsPending(pending)) => {
            (false, format!("{} migration(s) pending", pending.len()))
        }
    };
    let present = shell.modules;
    let modules = AREAS
        .iter()
        .map(|area| ModuleRow {
            area: area.title,
            module: area.module,
            present: present.contains(&area.module),
        })
        .collect();
    let page = Landing {
        layout: Layout::page("Overview", None, &req),
        database_ok,
        database_status,
        modules,
    };
    super::render(&page)
}
