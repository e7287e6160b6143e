//! Who is acting: users, their roles, and the identity a request carries once its credential
//! (a session cookie, a service token, a host-signed token) has been checked.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DomainError, Name};

/// What a user may do beyond writing their own posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    User,
    Moderator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
        }
    }

    /// From the stored name; an unknown one (a newer build's) counts as the least.
    pub fn from_stored(name: &str) -> Self {
        match name {
            "admin" => Self::Admin,
            "moderator" => Self::Moderator,
            _ => Self::User,
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    /// What they log in with; `None` for a user known only through a host-signed token.
    pub handle: Option<String>,
    /// What their posts show as the author.
    pub display_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// The identity a request acts as, once its credential checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Uuid,
    /// What its posts show as the author.
    pub name: Name,
    pub role: Role,
}

/// A handle: 3 to 32 letters, digits, `_`, `-` or `.`, starting with a letter or digit. Unique
/// whatever its case ([`Handle::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    pub fn parse(value: impl AsRef<str>) -> Result<Self, DomainError> {
        let value = value.as_ref().trim();
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !(3..=32).contains(&value.len())
            || !value.chars().all(ok_char)
            || !value.starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(DomainError::invalid(
                "handle",
                "handle must be 3 to 32 letters, digits, '_', '-' or '.', starting with a letter or digit.",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What makes two handles the same one: `Ann` and `ann` are.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A password to set: 8 to 1,024 characters (the upper bound keeps hashing cheap for us).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        let len = value.chars().count();
        if !(8..=1024).contains(&len) {
            return Err(DomainError::invalid("password", "password must be 8 to 1024 characters."));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A credential as a request presented it, not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The log-in session cookie's value.
    Session(String),
    /// `Authorization: Bearer …`: a service token (`qah_…`) or a host-signed JWT.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Session(_) => "Session(…)",
            Self::Bearer(_) => "Bearer(…)",
        })
    }
}

/// An opaque id of a credential that can be revoked (a log-in session, a service token): the
/// first 16 bytes of SHA-256 over its stored hash. A `revoked` event names the credential by
/// it without telling anything of the secret, and a connection holding the credential works
/// out the same id to know that the event is about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialId([u8; 16]);

impl CredentialId {
    /// The id of the credential stored as `token_hash`.
    pub fn of_hash(token_hash: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(token_hash);
        let mut id = [0; 16];
        id.copy_from_slice(&digest[..16]);
        Self(id)
    }

    /// The id from its text (32 lowercase hex digits), as a stored event holds it.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 32 {
            return None;
        }
        let mut id = [0; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(id))
    }
}

impl std::fmt::Display for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A service token as its owner sees it listed (never the secret itself).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceToken {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_plain_and_compared_without_case() {
        assert_eq!(Handle::parse(" Ann_1 ").unwrap().key(), "ann_1");
        for bad in ["ab", "-ann", "ann smith", "änn", &"a".repeat(33)] {
            assert!(Handle::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_bounds_and_never_print() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("x".repeat(1025)).is_err());
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(…)");
    }
}
