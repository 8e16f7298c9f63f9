//! The request being served, as far as records of it need to know: its correlation id
//! (the request id), the client's address and its user agent.
//!
//! The HTTP layer sets it around each request; [`crate::base::db::Db::run`] carries it onto the
//! blocking thread that runs the query; audit events and outbox messages read it when they
//! are created. So every record a request causes carries the request's correlation id,
//! address and agent, in every module, without each signature passing them along. Outside a
//! request (CLI, background work) there is none, and records say so by leaving them empty.

use std::cell::RefCell;
use std::future::Future;

/// What records of a request carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id, also the correlation id.
    pub correlation_id: String,
    /// The client's address, as the HTTP layer established it.
    pub client_ip: Option<String>,
    /// Its user agent, bounded and cleaned of control characters.
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static TASK: RequestContext;
}

thread_local! {
    static THREAD: RefCell<Option<RequestContext>> = const { RefCell::new(None) };
}

/// The context of the request this code serves, if it serves one.
pub fn current() -> Option<RequestContext> {
    TASK.try_with(Clone::clone)
        .ok()
        .or_else(|| THREAD.with(|t| t.borrow().clone()))
}

/// Runs `future` as the serving of the request `context` describes.
pub async fn scope<F: Future>(context: RequestContext, future: F) -> F::Output {
    TASK.scope(context, future).await
}

/// Runs blocking `work` on this thread under `context` (taken from the async side), and
/// leaves the thread as it was.
pub fn on_this_thread<T>(context: Option<RequestContext>, work: impl FnOnce() -> T) -> T {
    let before = THREAD.with(|t| t.replace(context));
    let out = work();
    THREAD.with(|t| t.replace(before));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> RequestContext {
        RequestContext {
            correlation_id: id.into(),
            ..RequestContext::default()
        }
    }

    #[tokio::test]
    async fn the_context_reaches_blocking_work_and_leaves_nothing_behind() {
        let seen = scope(request("r-1"), async {
            let context = current();
            tokio::task::spawn_blocking(move || on_this_thread(context, current))
                .await
                .ok()
                .flatten()
        })
        .await;

        assert_eq!(seen, Some(request("r-1")));
        assert_eq!(current(), None, "outside the request there is none");
        assert_eq!(on_this_thread(None, current), None);
    }
}
