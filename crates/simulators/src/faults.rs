//! Fault injection shared by the simulators: the next N matching requests fail in a chosen way.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// How an injected fault fails a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with `status` (default 503) and the platform's error body.
    Status,
    /// Wait `delay_ms` before answering normally (longer than a client's timeout).
    Timeout,
    /// Answer 200 with a truncated, unparsable JSON body.
    Malformed,
    /// Answer 429 with the platform's rate-limit headers; the window resets in `reset_ms`.
    RateLimit,
}

/// One fault rule: the next `count` requests whose path contains `path_contains` fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// How to fail.
    pub kind: FaultKind,
    /// HTTP status for [`FaultKind::Status`].
    #[serde(default = "default_status")]
    pub status: u16,
    /// How many matching requests fail.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Only requests whose path contains this text (absent or empty: every request).
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Delay of a [`FaultKind::Timeout`], in milliseconds.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// Reset hint of a [`FaultKind::RateLimit`], in milliseconds.
    #[serde(default = "default_reset_ms")]
    pub reset_ms: u64,
}

fn default_status() -> u16 {
    503
}
fn default_count() -> u32 {
    1
}
fn default_delay_ms() -> u64 {
    5_000
}
fn default_reset_ms() -> u64 {
    1_000
}

impl Fault {
    /// A fault of `kind` for the next `count` requests, with the defaults of the other fields.
    pub fn new(kind: FaultKind, count: u32) -> Self {
        Self {
            kind,
            status: default_status(),
            count,
            path_contains: None,
            delay_ms: default_delay_ms(),
            reset_ms: default_reset_ms(),
        }
    }

    /// The same fault, restricted to paths containing `fragment`.
    pub fn on_path(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_string());
        self
    }

    fn matches(&self, path: &str) -> bool {
        self.count > 0
            && self
                .path_contains
                .as_deref()
                .is_none_or(|f| f.is_empty() || path.contains(f))
    }
}

/// Pending faults, consumed in the order they were added.
#[derive(Debug, Default)]
pub struct FaultQueue(Mutex<Vec<Fault>>);

impl FaultQueue {
    /// A queue holding `faults`.
    pub fn new(faults: Vec<Fault>) -> Self {
        Self(Mutex::new(faults))
    }

    /// Adds a fault.
    pub fn push(&self, fault: Fault) {
        self.lock().push(fault);
    }

    /// Removes every pending fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Takes one use of the first fault matching `path`, if any.
    pub fn take(&self, path: &str) -> Option<Fault> {
        let mut faults = self.lock();
        let i = faults.iter().position(|f| f.matches(path))?;
        faults[i].count -= 1;
        let fault = faults[i].clone();
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    /// The pending faults.
    pub fn pending(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        // A poisoned lock only means a handler panicked; the queue itself is still valid.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_matching_faults_in_order() {
        let q = FaultQueue::default();
        q.push(Fault::new(FaultKind::Status, 2).on_path("/orders"));
        q.push(Fault::new(FaultKind::Malformed, 1));
        assert_eq!(
            q.take("/catalog/products").map(|f| f.kind),
            Some(FaultKind::Malformed)
        );
        assert_eq!(q.take("/catalog/products"), None);
        assert_eq!(
            q.take("/v2/orders").map(|f| f.kind),
            Some(FaultKind::Status)
        );
        assert_eq!(q.take("/v2/orders").map(|f| f.status), Some(503));
        assert_eq!(q.take("/v2/orders"), None);
    }

    #[test]
    fn parses_admin_json() {
        let f: Fault = serde_json::from_str(r#"{"kind":"rate_limit","count":3,"reset_ms":200}"#)
            .expect("valid fault json");
        assert_eq!(f.kind, FaultKind::RateLimit);
        assert_eq!(f.count, 3);
        assert_eq!(f.reset_ms, 200);
        assert_eq!(f.status, 503);
    }
}
