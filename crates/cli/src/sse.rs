//! A small incremental parser of `text/event-stream` (Server-Sent Events), enough for the
//! gateway's `/api/v1/events`: `event:` and `data:` fields, `id:`, comments, and the blank line
//! that ends an event. Bytes may arrive split anywhere, even inside a UTF-8 character or
//! between the `\r` and `\n` of a line ending.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` field seen, if any.
    pub id: Option<String>,
}

/// Incremental parser: feed it chunks with [`SseParser::push`], collect finished events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line still being received.
    pending: Vec<u8>,
    /// `event:` of the event being built.
    event: Option<String>,
    /// `data:` lines of the event being built.
    data: Vec<String>,
    /// Last event id (persists across events, as the spec says).
    last_id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk of the stream; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.pending.len() {
            match self.pending[i] {
                b'\n' => {
                    let line = String::from_utf8_lossy(&self.pending[start..i]).into_owned();
                    self.line(&line, &mut out);
                    i += 1;
                    start = i;
                }
                b'\r' => {
                    // A trailing `\r` may be the first half of `\r\n`: wait for the next byte.
                    if i + 1 == self.pending.len() {
                        break;
                    }
                    let line = String::from_utf8_lossy(&self.pending[start..i]).into_owned();
                    self.line(&line, &mut out);
                    i += if self.pending[i + 1] == b'\n' { 2 } else { 1 };
                    start = i;
                }
                _ => i += 1,
            }
        }
        self.pending.drain(..start);
        out
    }

    /// Processes one complete line (without its terminator).
    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return; // comment, e.g. a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields are ignored
        }
    }

    /// Ends the event being built (a blank line). Events without data are dropped, per spec.
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.data.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        out.push(SseEvent {
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".to_string()),
            data,
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        chunks.iter().flat_map(|c| p.push(c)).collect()
    }

    #[test]
    fn named_events_with_data() {
        let evs = parse_all(&[
            b"event: sync.progress\ndata: {\"done\":1}\n\nevent: sync.completed\ndata: {}\n\n",
        ]);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].event, "sync.progress");
        assert_eq!(evs[0].data, "{\"done\":1}");
        assert_eq!(evs[1].event, "sync.completed");
    }

    #[test]
    fn default_name_multiline_data_comments_and_ids() {
        let evs = parse_all(&[b": keep-alive\n\nid: 7\ndata: a\ndata:b\nretry: 10\n\n"]);
        assert_eq!(
            evs,
            vec![SseEvent {
                event: "message".into(),
                data: "a\nb".into(),
                id: Some("7".into())
            }]
        );
    }

    #[test]
    fn split_anywhere_and_crlf() {
        let text = "event: sync.failed\r\ndata: {\"errors\":[\"é\"]}\r\n\r\n";
        let bytes = text.as_bytes();
        // Every split point, including inside the two-byte `é` and between `\r` and `\n`.
        for cut in 0..bytes.len() {
            let evs = parse_all(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(evs.len(), 1, "cut at {cut}");
            assert_eq!(evs[0].event, "sync.failed");
            assert_eq!(evs[0].data, "{\"errors\":[\"é\"]}");
        }
        // One byte at a time.
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_all(&chunks).len(), 1);
    }

    #[test]
    fn lone_cr_ends_lines_and_events_without_data_are_dropped() {
        let evs = parse_all(&[b"event: x\r\revent: y\rdata: 1\r\r", b"\n"]);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].event, "y");
        assert_eq!(evs[0].data, "1");
    }

    #[test]
    fn incomplete_event_is_kept_until_blank_line() {
        let mut p = SseParser::new();
        assert!(p.push(b"event: sync.started\ndata: {}\n").is_empty());
        let evs = p.push(b"\n");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].event, "sync.started");
    }
}
