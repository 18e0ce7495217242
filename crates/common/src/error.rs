//! One error-code enum for every service, mapped to gRPC and HTTP statuses. Internal details are
//! logged, never sent to callers.

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure, as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed or invalid.
    InvalidArgument,
    /// The thing does not exist (or belongs to another tenant).
    NotFound,
    /// It exists already.
    AlreadyExists,
    /// No or bad credentials.
    Unauthenticated,
    /// Authenticated but not allowed.
    PermissionDenied,
    /// State does not allow it.
    FailedPrecondition,
    /// A dependency is down; retry later.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

impl ErrorCode {
    /// The HTTP status of this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::NotFound => 404,
            Self::AlreadyExists => 409,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::FailedPrecondition => 409,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The gRPC code of this code.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            Self::InvalidArgument => tonic::Code::InvalidArgument,
            Self::NotFound => tonic::Code::NotFound,
            Self::AlreadyExists => tonic::Code::AlreadyExists,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::PermissionDenied => tonic::Code::PermissionDenied,
            Self::FailedPrecondition => tonic::Code::FailedPrecondition,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// The code of a gRPC status.
    pub fn from_grpc(code: tonic::Code) -> Self {
        match code {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => Self::InvalidArgument,
            tonic::Code::NotFound => Self::NotFound,
            tonic::Code::AlreadyExists => Self::AlreadyExists,
            tonic::Code::Unauthenticated => Self::Unauthenticated,
            tonic::Code::PermissionDenied => Self::PermissionDenied,
            tonic::Code::FailedPrecondition | tonic::Code::Aborted => Self::FailedPrecondition,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => Self::Unavailable,
            _ => Self::Internal,
        }
    }

    /// Short machine-readable name (`not_found`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::FailedPrecondition => "failed_precondition",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// An error with a code and a message safe to show to callers.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The code.
    pub code: ErrorCode,
    /// Message for the caller (no secrets, no internals).
    pub message: String,
}

impl Error {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// Invalid argument.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// Not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// Internal error: the detail is logged here and the caller sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }
    /// Dependency unavailable: detail logged, caller told to retry.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "dependency unavailable");
        Self::new(
            ErrorCode::Unavailable,
            "service temporarily unavailable, retry later",
        )
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::new(e.code.grpc_code(), e.message)
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        let code = ErrorCode::from_grpc(s.code());
        match code {
            ErrorCode::Internal => Error::internal(format!("grpc: {s}")),
            ErrorCode::Unavailable => Error::unavailable(format!("grpc: {s}")),
            _ => Error::new(code, s.message().to_string()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Error::not_found("not found"),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // unique_violation
                Some("23505") => Error::new(ErrorCode::AlreadyExists, "already exists"),
                // foreign_key_violation, check_violation, not_null_violation
                Some("23503") | Some("23514") | Some("23502") => {
                    Error::invalid("invalid reference or value")
                }
                // invalid_text_representation (bad uuid and the like)
                Some("22P02") => Error::invalid("invalid identifier"),
                _ => Error::internal(&e),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => Error::unavailable(&e),
            _ => Error::internal(&e),
        }
    }
}

impl From<async_nats::Error> for Error {
    fn from(e: async_nats::Error) -> Self {
        Error::unavailable(format!("nats: {e}"))
    }
}
