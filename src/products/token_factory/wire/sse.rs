//! Server-sent events as the openai SDKs read them: events end at a blank line, `data:`
//! lines carry the payload, lines starting with `:` are comments.

use bytes::{Buf, BytesMut};

/// Largest event the gateway holds while it waits for its end.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// Splits a byte stream into events' data.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: BytesMut,
}

/// Why a stream could not be split.
#[derive(Debug, PartialEq)]
pub struct TooLarge;

impl Splitter {
    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        self.buf.extend_from_slice(bytes);
        match self.buf.len() > MAX_EVENT_BYTES && self.event_end().is_none() {
            true => Err(TooLarge),
            false => Ok(()),
        }
    }

    /// The data of the next complete event, if one has arrived (comments and events
    /// without data are skipped).
    pub fn next_data(&mut self) -> Option<String> {
        while let Some((end, sep)) = self.event_end() {
            let raw = self.buf.split_to(end);
            self.buf.advance(sep);
            if let Some(data) = data_of(&raw) {
                return Some(data);
            }
        }
        None
    }

    /// Whatever is left when the stream ends (an event the upstream did not terminate).
    pub fn rest(&mut self) -> Option<String> {
        let raw = self.buf.split();
        data_of(&raw)
    }

    fn event_end(&self) -> Option<(usize, usize)> {
        let b = &self.buf[..];
        (0..b.len()).find_map(|i| match &b[i..] {
            [b'\n', b'\n', ..] => Some((i, 2)),
            [b'\r', b'\n', b'\r', b'\n', ..] => Some((i, 4)),
            _ => None,
        })
    }
}

fn data_of(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut data: Option<String> = None;
    for line in text.lines() {
        let Some(value) = line.strip_prefix("data:") else {
            continue;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match &mut data {
            Some(d) => {
                d.push('\n');
                d.push_str(value);
            }
            None => data = Some(value.to_owned()),
        }
    }
    data
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_come_out_whole_and_comments_are_skipped() {
        let mut s = Splitter::default();
        s.push(b": keepalive\n\ndata: {\"a\"").expect("fits");
        assert_eq!(s.next_data(), None);
        s.push(b":1}\n\ndata: [DONE]\r\n\r\n").expect("fits");
        assert_eq!(s.next_data().as_deref(), Some("{\"a\":1}"));
        assert_eq!(s.next_data().as_deref(), Some("[DONE]"));
        assert_eq!(s.next_data(), None);
    }

    #[test]
    fn an_event_that_never_ends_is_refused_past_the_bound() {
        let mut s = Splitter::default();
        let big = vec![b'x'; MAX_EVENT_BYTES + 1];
        assert_eq!(s.push(&big), Err(TooLarge));
    }
}
