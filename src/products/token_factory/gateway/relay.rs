//! A stream passed through as it arrives. Each upstream event is relayed at once (its
//! `model` set to the catalog id), the usage the gateway always asks for is noted and
//! stripped unless the client asked for it too, and the text is kept for counting when the
//! upstream reports none. The request finishes exactly once: before `[DONE]` is sent (or
//! just after, by setting), on an upstream failure, or, when the client goes away, as the
//! stream is dropped, which also drops the upstream connection and cancels it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::chunk::{self, Event};
use super::finish::{Output, Produced};
use super::forward::Forwarded;
use super::{Gateway, Ticket};
use crate::products::token_factory::upstream::BodyStream;
use crate::products::token_factory::upstream::health::Slot;
use crate::products::token_factory::wire::OpenAiError;
use crate::products::token_factory::wire::sse::Splitter;

/// Most generated text kept for counting; beyond it, bytes are counted at 4 per token.
const MAX_KEPT_TEXT: usize = 1024 * 1024;

struct Relay {
    gateway: Arc<Gateway>,
    ticket: Option<Ticket>,
    body: BodyStream,
    splitter: Splitter,
    slot: Option<Slot>,
    produced: Produced,
    text: String,
    overflow_bytes: usize,
    client_usage: bool,
    model: Arc<str>,
    timeout: Duration,
    pending: VecDeque<Bytes>,
    done: bool,
}

/// The client's stream for an upstream's.
pub fn relay(
    gateway: Arc<Gateway>,
    ticket: Ticket,
    forwarded: Forwarded,
    client_usage: bool,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let model = Arc::clone(&ticket.model.id);
    let produced = Produced {
        endpoint: Some(forwarded.served_by()),
        billable: true,
        status: 200,
        upstream_time: forwarded.waited,
        ..Produced::default()
    };
    let relay = Relay {
        gateway,
        ticket: Some(ticket),
        body: forwarded.reply.body,
        splitter: Splitter::default(),
        slot: Some(forwarded.slot),
        produced,
        text: String::new(),
        overflow_bytes: 0,
        client_usage,
        model,
        timeout: forwarded.endpoint.timeout,
        pending: VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(relay, |mut relay| async move {
        relay.next_bytes().await.map(|bytes| (Ok(bytes), relay))
    })
}

impl Relay {
    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if self.done {
                return None;
            }
            if let Some(data) = self.splitter.next_data() {
                self.event(data).await;
                continue;
            }
            self.pull().await;
        }
    }

    /// Reads the next piece of the upstream's body.
    async fn pull(&mut self) {
        let began = Instant::now();
        let next = tokio::time::timeout(self.timeout, self.body.next()).await;
        self.produced.upstream_time += began.elapsed();
        match next {
            Err(_) => {
                self.fail("The model's upstream stopped sending within its timeout.")
                    .await
            }
            Ok(Some(Err(_))) => self.fail("The model's upstream connection broke.").await,
            Ok(Some(Ok(bytes))) => {
                if self.splitter.push(&bytes).is_err() {
                    self.fail("The model's upstream sent an event too large to relay.")
                        .await;
                }
            }
            Ok(None) => match self.splitter.rest() {
                Some(data) => self.event(data).await,
                None => self.end(false).await,
            },
        }
    }

    async fn event(&mut self, data: String) {
        let model = Arc::clone(&self.model);
        let chunk = match chunk::read(data, model, self.client_usage).await {
            Event::Done => return self.end(true).await,
            Event::Garbled => {
                return self
                    .fail("The model's upstream sent an event that is not JSON.")
                    .await;
            }
            Event::Failed(event) => {
                self.pending.push_back(event);
                self.produced.status = 502;
                self.produced.error_code = Some("upstream_error");
                return self.end(false).await;
            }
            Event::Chunk(chunk) => chunk,
        };
        self.note(chunk.reported, &chunk.text);
        let Some(event) = chunk.relayed else {
            return;
        };
        if self.produced.first_token.is_none()
            && let Some(ticket) = &self.ticket
        {
            self.produced.first_token = Some(ticket.started.elapsed());
        }
        self.pending.push_back(event);
    }

    /// Notes a chunk's usage and text.
    fn note(&mut self, reported: Option<(u64, u64)>, text: &str) {
        if reported.is_some() {
            self.produced.reported = reported;
        }
        match self.text.len() + text.len() <= MAX_KEPT_TEXT {
            true => self.text.push_str(text),
            false => self.overflow_bytes += text.len(),
        }
    }

    async fn fail(&mut self, message: &str) {
        if let Some(endpoint) = &self.produced.endpoint {
            self.gateway.metrics.upstream_error(endpoint, "stream");
        }
        let err = OpenAiError::upstream(actix_web::http::StatusCode::BAD_GATEWAY, message);
        self.pending.push_back(Bytes::from(err.sse_event()));
        self.produced.status = 502;
        self.produced.error_code = Some("upstream_error");
        self.end(false).await;
    }

    /// Finishes the request and ends the stream (with `[DONE]` when the upstream sent it).
    async fn end(&mut self, done: bool) {
        self.done = true;
        self.slot = None;
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let produced = self.outcome();
        let finished = match self.gateway.commits_before_response() {
            true => self.gateway.finish(ticket, produced).await,
            false => {
                self.gateway.finish_later(ticket, produced).await;
                Ok(())
            }
        };
        match finished {
            Err(err) => self.pending.push_back(Bytes::from(err.sse_event())),
            Ok(()) if done => self
                .pending
                .push_back(Bytes::from_static(b"data: [DONE]\n\n")),
            Ok(()) => {}
        }
    }

    fn outcome(&mut self) -> Produced {
        let mut produced = std::mem::take(&mut self.produced);
        produced.output = Output {
            texts: vec![std::mem::take(&mut self.text)],
            overflow_bytes: self.overflow_bytes,
        };
        produced
    }
}

impl Drop for Relay {
    /// The client went away: the upstream is cancelled with `body`, and what was produced
    /// up to now is billed, once.
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let mut produced = self.outcome();
        produced.status = 499;
        produced.error_code = Some("client_disconnected");
        let gateway = Arc::clone(&self.gateway);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = gateway.finish(ticket, produced).await {
                        log::error!("usage of a disconnected stream was not committed: {err}");
                    }
                });
            }
            Err(_) => log::error!(
                "usage of request {} lost: no runtime at drop",
                ticket.request_id
            ),
        }
    }
}
