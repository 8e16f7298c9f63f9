//! Endpoint health and load in this process: requests in flight (bounded by the endpoint's
//! `max_in_flight`), consecutive failures, and rotation. An endpoint that fails
//! `eject_after` times in a row leaves rotation; the prober brings it back when a probe
//! succeeds. Kept by endpoint id, so a catalog reload keeps what was learnt. Rotation is
//! shared with the other processes (`store::shared_health`); load and failures are not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use dashmap::DashMap;
use uuid::Uuid;

use crate::products::token_factory::catalog::Endpoint;

/// What this process knows of one endpoint.
#[derive(Debug, Default)]
pub struct EndpointState {
    in_flight: AtomicU32,
    failures: AtomicU32,
    ejected: AtomicBool,
}

/// An endpoint left rotation (`healthy: false`) or came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The endpoint.
    pub endpoint: Uuid,
    /// Whether it is back in rotation.
    pub healthy: bool,
}

/// How many transitions may wait for their announcement; past that they are dropped (the
/// state itself is never lost, only its event).
const WAITING_TRANSITIONS: usize = 256;

/// Health of every endpoint this process has used.
#[derive(Debug)]
pub struct Health {
    states: DashMap<Uuid, Arc<EndpointState>>,
    eject_after: u32,
    transitions: Option<tokio::sync::mpsc::Sender<Transition>>,
}

/// A request in flight on an endpoint; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    state: Arc<EndpointState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a change of health went, for logs and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing changed.
    Same,
    /// The endpoint just left rotation.
    Ejected,
    /// The endpoint just came back.
    Restored,
}

impl Health {
    /// Endpoints leave rotation after `eject_after` consecutive failures (at least 1).
    pub fn new(eject_after: u32) -> Health {
        Health {
            states: DashMap::new(),
            eject_after: eject_after.max(1),
            transitions: None,
        }
    }

    /// The same, handing every transition to the receiver returned, off the request path.
    pub fn announcing(eject_after: u32) -> (Health, tokio::sync::mpsc::Receiver<Transition>) {
        let (send, receive) = tokio::sync::mpsc::channel(WAITING_TRANSITIONS);
        let mut health = Health::new(eject_after);
        health.transitions = Some(send);
        (health, receive)
    }

    fn announce(&self, endpoint: Uuid, healthy: bool) {
        let Some(transitions) = &self.transitions else {
            return;
        };
        if transitions
            .try_send(Transition { endpoint, healthy })
            .is_err()
        {
            log::warn!("endpoint {endpoint}: a health change was not announced (too many waiting)");
        }
    }

    fn state(&self, id: Uuid) -> Arc<EndpointState> {
        if let Some(state) = self.states.get(&id) {
            return Arc::clone(&state);
        }
        Arc::clone(&self.states.entry(id).or_default())
    }

    /// A place on `endpoint`, unless it is out of rotation or full.
    pub fn acquire(&self, endpoint: &Endpoint) -> Option<Slot> {
        let state = self.state(endpoint.id);
        if state.ejected.load(Ordering::Acquire) {
            return None;
        }
        let taken = state
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < endpoint.max_in_flight).then_some(n + 1)
            });
        taken.ok().map(|_| Slot { state })
    }

    /// The endpoint answered.
    pub fn success(&self, id: Uuid) -> Change {
        let state = self.state(id);
        state.failures.store(0, Ordering::Release);
        match state.ejected.swap(false, Ordering::AcqRel) {
            true => {
                self.announce(id, true);
                Change::Restored
            }
            false => Change::Same,
        }
    }

    /// The endpoint failed (connection, timeout, 5xx or 429).
    pub fn failure(&self, id: Uuid) -> Change {
        let state = self.state(id);
        let failures = state.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < self.eject_after {
            return Change::Same;
        }
        match state.ejected.swap(true, Ordering::AcqRel) {
            true => Change::Same,
            false => {
                self.announce(id, false);
                Change::Ejected
            }
        }
    }

    /// What another process learnt of `id` (out of rotation, or back in): taken as it is,
    /// without announcing it again.
    pub fn adopt(&self, id: Uuid, healthy: bool) {
        let state = self.state(id);
        if healthy {
            state.failures.store(0, Ordering::Release);
        }
        state.ejected.store(!healthy, Ordering::Release);
    }

    /// `healthy` or `out_of_rotation`.
    pub fn label(&self, id: Uuid) -> &'static str {
        match self
            .states
            .get(&id)
            .is_some_and(|s| s.ejected.load(Ordering::Acquire))
        {
            true => "out_of_rotation",
            false => "healthy",
        }
    }

    /// Requests in flight on the endpoint.
    pub fn in_flight(&self, id: Uuid) -> u32 {
        self.states
            .get(&id)
            .map_or(0, |s| s.in_flight.load(Ordering::Acquire))
    }

    /// Endpoints out of rotation, for the prober.
    pub fn ejected(&self) -> Vec<Uuid> {
        self.states
            .iter()
            .filter(|e| e.value().ejected.load(Ordering::Acquire))
            .map(|e| *e.key())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::token_factory::catalog::Target;

    fn endpoint(max: u32) -> Endpoint {
        Endpoint {
            id: Uuid::now_v7(),
            name: "e".into(),
            base_url: "http://x/v1".into(),
            target: Target::Http("http://x/v1".into()),
            upstream_model: "m".into(),
            credential_env: None,
            weight: 1,
            timeout: std::time::Duration::from_secs(1),
            max_in_flight: max,
        }
    }

    #[test]
    fn an_endpoint_takes_at_most_its_in_flight_and_frees_a_place_on_drop() {
        let health = Health::new(3);
        let e = endpoint(2);
        let (a, b) = (health.acquire(&e), health.acquire(&e));
        assert!(a.is_some() && b.is_some());
        assert!(health.acquire(&e).is_none());
        drop(a);
        assert!(health.acquire(&e).is_some());
    }

    #[test]
    fn repeated_failures_eject_and_a_success_restores() {
        let health = Health::new(2);
        let e = endpoint(5);
        assert_eq!(health.failure(e.id), Change::Same);
        assert_eq!(health.failure(e.id), Change::Ejected);
        assert!(health.acquire(&e).is_none());
        assert_eq!(health.ejected(), vec![e.id]);
        assert_eq!(health.success(e.id), Change::Restored);
        assert!(health.acquire(&e).is_some());
    }

    #[test]
    fn what_another_process_learnt_is_adopted_without_being_announced_again() {
        let (health, mut announced) = Health::announcing(2);
        let e = endpoint(5);
        health.adopt(e.id, false);
        assert!(health.acquire(&e).is_none(), "out of rotation here too");
        assert_eq!(health.ejected(), vec![e.id]);
        health.adopt(e.id, true);
        assert!(health.acquire(&e).is_some(), "back in rotation");
        assert!(announced.try_recv().is_err(), "nothing announced twice");
    }
}
