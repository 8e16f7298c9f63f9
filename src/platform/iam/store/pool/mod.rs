//! The async face of `PgIam`: each trait method copies its arguments and runs the matching
//! `*_on` function of the store on the blocking pool, so actix workers never wait on diesel.

/// Runs a membership change on the pool with owned copies of its arguments.
macro_rules! on_pool {
    ($self:ident, |$this:ident, $conn:ident| $body:expr) => {{
        let $this = $self.clone();
        $self.db.run(move |$conn| $body).await
    }};
}

/// Like `on_pool!`, then reloads this process's key read model at once: memberships decide
/// what user keys hold (other processes follow by NOTIFY).
macro_rules! changing_access {
    ($self:ident, |$this:ident, $conn:ident| $body:expr) => {{
        let changed = on_pool!($self, |$this, $conn| $body)?;
        $self.reload().await?;
        Ok(changed)
    }};
}

mod access;
mod keys;
mod members;
mod people;
mod tenancy;
