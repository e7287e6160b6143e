//! Users, log-in sessions, service tokens and Idempotency-Key records. Secrets arrive here
//! already hashed (see `service::auth`); nothing in this module sees a token or a password.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, engine::Tx, events, now};
use crate::domain::{
    CredentialId, DomainError, Event, EventKind, Identity, Name, Role, ServiceToken, Topic, User,
};

/// In `tx`: a `revoked` event for `credential` at `user`'s topic's next seq (taking the user's
/// row, as every write to an inbox does first).
async fn record_revoked(
    tx: &mut Tx,
    user: Uuid,
    credential: CredentialId,
    at: DateTime<Utc>,
) -> Result<Event, DomainError> {
    let seq = events::next_user_seq(tx, user).await?.ok_or(sqlx::Error::RowNotFound)?;
    let topic = Topic::User(user);
    let payload = serde_json::json!({ "credential": credential.to_string() }).to_string();
    events::insert_event(tx, topic, seq, "revoked", None, Some(&payload), at).await?;
    Ok(Event { topic, seq, kind: EventKind::Revoked { credential } })
}

/// A user to create; the service has parsed every field.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub handle: Option<(String, String)>,
    pub display_name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    /// A host-signed token's (issuer, subject).
    pub external: Option<(String, String)>,
}

/// A service token revoked: its hash, and the `revoked` event when it was revoked just now.
pub struct Revoked {
    pub token_hash: Vec<u8>,
    pub event: Option<Event>,
}

/// A user found by handle, with what checks their password.
pub struct Login {
    pub identity: Identity,
    pub password_hash: Option<String>,
}

/// A live session: who, and the CSRF token of its forms.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub identity: Identity,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// What an Idempotency-Key stood for.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub fingerprint: Vec<u8>,
    pub resource_id: Uuid,
    pub created_at: DateTime<Utc>,
}

type IdentityRow = (Uuid, String, String);
/// id, name, created_at, revoked_at.
type TokenRow = (Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>);

fn identity((user_id, name, role): IdentityRow) -> Identity {
    Identity { user_id, name: Name::from_stored(name), role: Role::from_stored(&role) }
}

impl Store {
    /// Stores a user; a handle (or an external subject) already taken is a `Conflict`.
    pub async fn create_user(&self, new: NewUser) -> Result<User, DomainError> {
        let user = User {
            id: Uuid::now_v7(),
            handle: new.handle.as_ref().map(|(handle, _)| handle.clone()),
            display_name: new.display_name,
            role: new.role,
            created_at: now(),
        };
        let (issuer, subject) = new.external.unzip();
        const SQL: &str = "INSERT INTO users (id, handle, handle_key, display_name, role, password_hash, \
                           issuer, subject, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        self.write(SQL)
            .bind(user.id)
            .bind(&user.handle)
            .bind(new.handle.as_ref().map(|(_, key)| key))
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&new.password_hash)
            .bind(&issuer)
            .bind(&subject)
            .bind(user.created_at)
            .execute()
            .await
            .map_err(|e| match DomainError::from(e) {
                DomainError::Conflict { .. } => DomainError::Conflict {
                    code: "handle_taken",
                    message: "That handle is taken; choose another.".into(),
                },
                other => other,
            })?;
        Ok(user)
    }

    /// The user with this handle key (lower case), and their password hash.
    pub async fn login_by_handle(&self, handle_key: &str) -> Result<Option<Login>, DomainError> {
        const SQL: &str = "SELECT id, display_name, role, password_hash FROM users WHERE handle_key = $1";
        let row: Option<(Uuid, String, String, Option<String>)> =
            self.read(SQL).bind(handle_key).fetch_optional().await?;
        Ok(row.map(|(id, name, role, password_hash)| Login {
            identity: identity((id, name, role)),
            password_hash,
        }))
    }

    /// The user a host-signed token's issuer and subject stand for: found, renamed when the
    /// site's name for them changed, or created on first sight.
    pub async fn external_user(
        &self,
        issuer: &str,
        subject: &str,
        name: &Name,
    ) -> Result<Identity, DomainError> {
        const FIND: &str = "SELECT id, display_name, role FROM users WHERE issuer = $1 AND subject = $2";
        let found: Option<IdentityRow> = self.read(FIND).bind(issuer).bind(subject).fetch_optional().await?;
        if let Some(found) = found.filter(|(_, stored, _)| stored == name.as_str()) {
            return Ok(identity(found));
        }
        // First sight, or a new name: one statement either way, and two nodes seeing the same
        // new user at once both end with the one row.
        const UPSERT: &str = "INSERT INTO users (id, display_name, role, issuer, subject, created_at) \
                              VALUES ($1, $2, 'user', $3, $4, $5) \
                              ON CONFLICT (issuer, subject) DO UPDATE SET display_name = excluded.display_name \
                              RETURNING id, display_name, role";
        let row: IdentityRow = self
            .write(UPSERT)
            .bind(Uuid::now_v7())
            .bind(name.as_str())
            .bind(issuer)
            .bind(subject)
            .bind(now())
            .fetch_one()
            .await?;
        Ok(identity(row))
    }

    pub async fn create_session(
        &self,
        token_hash: &[u8],
        user_id: Uuid,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        const SQL: &str = "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                           VALUES ($1, $2, $3, $4, $5)";
        self.write(SQL)
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf_token)
            .bind(now())
            .bind(expires_at)
            .execute()
            .await?;
        Ok(())
    }

    /// The session with this token hash, expired or not (the caller compares the time).
    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, DomainError> {
        const SQL: &str = "SELECT u.id, u.display_name, u.role, s.csrf_token, s.expires_at \
                           FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1";
        let row: Option<(Uuid, String, String, String, DateTime<Utc>)> =
            self.read(SQL).bind(token_hash).fetch_optional().await?;
        Ok(row.map(|(id, name, role, csrf_token, expires_at)| SessionRecord {
            identity: identity((id, name, role)),
            csrf_token,
            expires_at,
        }))
    }

    /// Ends a session, and records its `revoked` event in the same transaction; `None` when
    /// there was no such session (ended already).
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<Option<Event>, DomainError> {
        let at = now();
        let mut tx = self.begin().await?;
        let user: Option<Uuid> = tx
            .query("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
            .bind(token_hash)
            .scalar_optional()
            .await?;
        let event = match user {
            Some(user) => Some(record_revoked(&mut tx, user, CredentialId::of_hash(token_hash), at).await?),
            None => None,
        };
        tx.commit(event.as_slice()).await?;
        Ok(event)
    }

    pub async fn create_token(
        &self,
        user_id: Uuid,
        name: &str,
        token_hash: &[u8],
    ) -> Result<ServiceToken, DomainError> {
        let token =
            ServiceToken { id: Uuid::now_v7(), name: name.to_owned(), created_at: now(), revoked_at: None };
        const SQL: &str = "INSERT INTO service_tokens (id, user_id, name, token_hash, created_at) \
                           VALUES ($1, $2, $3, $4, $5)";
        self.write(SQL)
            .bind(token.id)
            .bind(user_id)
            .bind(name)
            .bind(token_hash)
            .bind(token.created_at)
            .execute()
            .await?;
        Ok(token)
    }

    /// Who a service token acts for; `None` when it is unknown or revoked. Read on every
    /// request (no cache), so a revocation holds at once on every node.
    pub async fn token_identity(&self, token_hash: &[u8]) -> Result<Option<Identity>, DomainError> {
        const SQL: &str = "SELECT u.id, u.display_name, u.role FROM service_tokens t \
                           JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
        let row: Option<IdentityRow> = self.read(SQL).bind(token_hash).fetch_optional().await?;
        Ok(row.map(identity))
    }

    /// A user's tokens, newest first, revoked ones included.
    pub async fn tokens_of(&self, user_id: Uuid) -> Result<Vec<ServiceToken>, DomainError> {
        const SQL: &str = "SELECT id, name, created_at, revoked_at FROM service_tokens \
                           WHERE user_id = $1 ORDER BY id DESC";
        let rows: Vec<TokenRow> = self.read(SQL).bind(user_id).fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, revoked_at)| ServiceToken { id, name, created_at, revoked_at })
            .collect())
    }

    /// Revokes one of `user_id`'s tokens; its hash, or `None` when they have no such token.
    pub async fn revoke_token(&self, user_id: Uuid, token_id: Uuid) -> Result<Option<Revoked>, DomainError> {
        const REVOKE: &str = "UPDATE service_tokens SET revoked_at = $3 \
                              WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING token_hash";
        const FIND: &str = "SELECT token_hash FROM service_tokens WHERE id = $1 AND user_id = $2";
        let at = now();
        let mut tx = self.begin().await?;
        let newly: Option<Vec<u8>> =
            tx.query(REVOKE).bind(token_id).bind(user_id).bind(at).scalar_optional().await?;
        let revoked = match newly {
            Some(hash) => {
                let event = record_revoked(&mut tx, user_id, CredentialId::of_hash(&hash), at).await?;
                Some(Revoked { token_hash: hash, event: Some(event) })
            }
            // Revoked already (nothing new to announce), or not theirs.
            None => tx
                .query(FIND)
                .bind(token_id)
                .bind(user_id)
                .scalar_optional()
                .await?
                .map(|token_hash| Revoked { token_hash, event: None }),
        };
        let recorded = revoked.as_ref().and_then(|r| r.event.as_ref());
        tx.commit(recorded.map(std::slice::from_ref).unwrap_or_default()).await?;
        Ok(revoked)
    }

    /// What `(owner, key)` was first used for, if it was.
    pub async fn idempotency(
        &self,
        owner: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, DomainError> {
        const SQL: &str =
            "SELECT fingerprint, resource_id, created_at FROM idempotency_keys WHERE owner = $1 AND key = $2";
        let row: Option<(Vec<u8>, Uuid, DateTime<Utc>)> =
            self.read(SQL).bind(owner).bind(key).fetch_optional().await?;
        Ok(row.map(|(fingerprint, resource_id, created_at)| IdempotencyRecord {
            fingerprint,
            resource_id,
            created_at,
        }))
    }

    /// Forgets keys first used before `before`, so they can be used again.
    pub async fn forget_idempotency_before(&self, before: DateTime<Utc>) -> Result<u64, DomainError> {
        Ok(self.write("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before).execute().await?)
    }

    /// Forgets one expired key (a reuse after its window).
    pub async fn forget_idempotency(&self, owner: &str, key: &str) -> Result<(), DomainError> {
        self.write("DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2")
            .bind(owner)
            .bind(key)
            .execute()
            .await?;
        Ok(())
    }
}
