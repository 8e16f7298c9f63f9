//! Where pure work on request or answer data runs: on the HTTP worker while it is small,
//! on a blocking thread past `INLINE_BYTES`, so a large body (a long prompt, a big
//! embeddings batch, a huge stream event) never holds a worker that other requests wait on.
//! The gateway's every parse, encode and token count of client or upstream data goes
//! through here.

/// Work over more bytes than this leaves the HTTP workers.
pub const INLINE_BYTES: usize = 64 * 1024;

/// `work` over `bytes` bytes of data, inline or on a blocking thread by the rule above;
/// `lost` is its result should the blocking thread die (it panicked, or the runtime is
/// shutting down), which none of the work run here does on any input.
pub async fn sized<T, W, L>(bytes: usize, work: W, lost: L) -> T
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    L: FnOnce() -> T,
{
    if bytes <= INLINE_BYTES {
        return work();
    }
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(err) => {
            log::error!("work on {bytes} bytes was lost off the workers: {err}");
            lost()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn small_work_stays_on_the_calling_thread_and_large_work_leaves_it() {
        let here = std::thread::current().id();
        let on = |bytes| sized(bytes, || std::thread::current().id(), || here);
        assert_eq!(on(INLINE_BYTES).await, here);
        assert_ne!(on(INLINE_BYTES + 1).await, here);
    }

    #[tokio::test]
    async fn lost_work_comes_to_the_fallback() {
        let got = sized(INLINE_BYTES + 1, || -> u8 { panic!("by design") }, || 7).await;
        assert_eq!(got, 7);
    }
}
