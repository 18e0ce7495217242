//! Protobuf messages and gRPC services of marketsync, generated at build time from `proto/`.

/// Version 1 of the marketsync protocol.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("marketsync.v1");

    /// The encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("marketsync_descriptor");
}

pub use v1::*;
