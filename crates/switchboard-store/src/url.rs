//! Parsing database URLs (`sqlite://path`, `postgres://...`) and showing them with any password redacted.

use std::fmt;
use std::path::PathBuf;

use crate::error::StoreError;

/// Where the store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// An embedded SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, as a libpq-style connection URL.
    Postgres(String),
}

impl StoreUrl {
    /// Parses `sqlite://PATH` (relative or absolute; `sqlite:///abs/path` also works) or
    /// `postgres://` / `postgresql://` URLs.
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Config(format!(
                    "invalid database URL '{url}': sqlite:// needs a file path, as in sqlite://switchboard.db"
                )));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            let host_part = rest.split(['/', '?']).next().unwrap_or("");
            let host = host_part.rsplit('@').next().unwrap_or("");
            if host.is_empty() {
                return Err(StoreError::Config(format!(
                    "invalid database URL '{}': no host",
                    redact(url)
                )));
            }
            return Ok(StoreUrl::Postgres(url.to_string()));
        }
        Err(StoreError::Config(format!(
            "invalid database URL '{}': expected sqlite://PATH or postgres://USER@HOST/DATABASE",
            redact(url)
        )))
    }

    /// The URL with any password replaced by `***`, safe for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            StoreUrl::Postgres(url) => redact(url),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of a `scheme://user:password@host` URL (and a `password=` parameter) with `***`.
pub fn redact(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find(['/', '?']) {
                Some(pos) => rest.split_at(pos),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{tail}")
        }
        None => url.to_string(),
    };
    if let Some(pos) = out.find("password=") {
        let end = out[pos..].find('&').map(|e| pos + e).unwrap_or(out.len());
        out.replace_range(pos + "password=".len()..end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        assert_eq!(
            StoreUrl::parse("sqlite://data/sb.db").unwrap(),
            StoreUrl::Sqlite(PathBuf::from("data/sb.db"))
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/sb.db").unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/var/lib/sb.db"))
        );
        let pg = StoreUrl::parse("postgres://sb:s3cret@db.local:5432/sb?sslmode=disable").unwrap();
        assert_eq!(
            pg.redacted(),
            "postgres://sb:***@db.local:5432/sb?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://u@h/d?password=hunter2&x=1"),
            "postgresql://u@h/d?password=***&x=1"
        );
        for bad in [
            "",
            "sqlite://",
            "mysql://x",
            "postgres://",
            "postgres:///db",
        ] {
            let error = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(error.contains("invalid database URL"), "{bad}: {error}");
        }
        let error = StoreUrl::parse("mysql://root:pw@h/d")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("pw@"), "{error}");
    }
}
