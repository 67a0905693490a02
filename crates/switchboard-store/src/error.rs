//! The store's one error type.

use std::fmt;

/// Why a store operation failed. Messages name the database by its redacted URL and are safe to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The URL or the options are wrong; fix the configuration.
    Config(String),
    /// The database cannot be reached or cannot take writes now (connection lost, disk full, read-only).
    /// Nothing was written; the caller may retry later (HTTP 503).
    Unavailable(String),
    /// The requested record does not exist.
    NotFound(String),
    /// The write conflicts with stored data (for example a tenant's command sequence went backwards).
    Conflict(String),
    /// The database was written by a newer switchboard.
    TooNew {
        /// Schema version found.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Stored data could not be read back (corruption or a format this build does not know).
    Corrupt(String),
    /// The store has shut down.
    Closed,
    /// The write carried a tenant lease this node no longer holds: another node leads the tenant now. Nothing
    /// was written; this node must step down for the tenant.
    Fenced(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Config(message) => f.write_str(message),
            StoreError::Unavailable(message) => write!(f, "storage unavailable: {message}"),
            StoreError::NotFound(message) => write!(f, "not found: {message}"),
            StoreError::Conflict(message) => write!(f, "conflict: {message}"),
            StoreError::TooNew { found, supported } => write!(
                f,
                "the database schema is version {found}, newer than this switchboard supports ({supported}); \
                 run a newer switchboard"
            ),
            StoreError::Corrupt(message) => write!(f, "stored data is unreadable: {message}"),
            StoreError::Closed => f.write_str("the store is shut down"),
            StoreError::Fenced(tenant) => write!(
                f,
                "this node no longer holds the lease of tenant '{tenant}'; another node leads it"
            ),
        }
    }
}

impl std::error::Error for StoreError {}
