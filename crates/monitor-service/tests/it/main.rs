//! Integration tests of the monitor service.

mod ai;
