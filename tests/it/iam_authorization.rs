//! One authorization style: every privileged IAM operation takes its caller and decides
//! inside the module, so a caller that skips the HTTP adapter (another module, a product,
//! a new route) is refused just the same.

use aicloud::platform::iam::{Caller, IamError, OrgKind};

use crate::iam_tenants::{PASSWORD, tenants};

#[tokio::test]
async fn tenancy_and_people_refuse_a_tenant_caller_that_bypasses_the_routes() {
    let t = tenants().await;
    let alice = Caller::User(t.alice.clone());
    let (tenancy, people) = (&t.platform.iam, &t.platform.people);

    let org = tenancy
        .create_organization(&alice, "mine", "Mine", OrgKind::Team, None)
        .await;
    let suspend = tenancy
        .set_organization_active(&alice, "org-b", false)
        .await;
    let project = tenancy
        .create_project(&alice, "org-b", "sneaky", "Sneaky", None)
        .await;
    let user = people
        .create_user(&alice, "x@x.example", "X", PASSWORD)
        .await;
    let disable = people.set_user_state(&alice, "bob@b.example", false).await;
    let role = people.set_platform_role(&alice, "alice@a.example", "platform.platform_admin", true);

    assert!(matches!(org, Err(IamError::Forbidden(_))), "{org:?}");
    assert!(
        matches!(suspend, Err(IamError::Forbidden(_))),
        "{suspend:?}"
    );
    assert!(
        matches!(project, Err(IamError::NotFound(_))),
        "another tenant's: {project:?}"
    );
    assert!(matches!(user, Err(IamError::Forbidden(_))), "{user:?}");
    assert!(
        matches!(disable, Err(IamError::Forbidden(_))),
        "{disable:?}"
    );
    assert!(
        matches!(role.await, Err(IamError::Forbidden(_))),
        "no self-made administrators"
    );
    let own = tenancy
        .create_project(&alice, "org-a", "lab", "Lab", None)
        .await;
    assert!(
        own.is_ok(),
        "an owner creates projects in her organization: {own:?}"
    );
}
