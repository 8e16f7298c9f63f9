//! IAM's web adapters, which every module's routes and pages use: the request guard that
//! authenticates API callers and authorizes them through `Access`, and the portal's
//! sessions (the gate in front of every page, sign-in, sign-out, CSRF and the `SignedIn`
//! extractor).

pub mod guard;
pub mod session;
