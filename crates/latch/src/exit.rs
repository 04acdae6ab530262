//! Exit codes, so scripts can tell what happened:
//!
//! | code | meaning                                                          |
//! |------|------------------------------------------------------------------|
//! | 0    | done                                                             |
//! | 1    | failed (the message says why)                                    |
//! | 2    | bad usage: wrong arguments or missing configuration              |
//! | 3    | not found: no such session, user or API key                      |
//! | 4    | unavailable: data dir in use, server or store unreachable; retry |
//! | 5    | refused: the server did not accept the API key                   |

use std::process::ExitCode;

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(m: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: m.into(),
        }
    }

    pub fn not_found(m: impl Into<String>) -> Self {
        Self {
            code: 3,
            message: m.into(),
        }
    }

    pub fn unavailable(m: impl Into<String>) -> Self {
        Self {
            code: 4,
            message: m.into(),
        }
    }

    pub fn refused(m: impl Into<String>) -> Self {
        Self {
            code: 5,
            message: m.into(),
        }
    }

    pub fn other(e: impl std::fmt::Display) -> Self {
        Self {
            code: 1,
            message: format!("{e:#}"),
        }
    }

    pub fn engine(e: latch_core::Error) -> Self {
        match e {
            latch_core::Error::Store(s) => Self::unavailable(s.to_string()),
            e => Self::other(e),
        }
    }

    pub fn exit(self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.code)
    }
}
