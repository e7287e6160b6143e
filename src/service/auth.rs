//! Identity: accounts and passwords (Argon2id), log-in sessions, service tokens, and tokens
//! signed by a host site (JWT). Turns a [`Credential`] a request presented into the
//! [`Identity`] it acts as.
//!
//! Session and service tokens are 256 random bits, shown once and stored only as SHA-256
//! hashes: with that much entropy a fast hash is enough, and a stolen database holds no usable
//! secret. Every check reads the database (nothing is cached), so a log-out or a revoked token
//! takes effect at once on every node.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Services;
use crate::{
    domain::{
        Credential, CredentialId, DomainError, Handle, HostTokens, Identity, Name, Password, Role,
        ServiceToken, TokenName, User,
    },
    store::NewUser,
};

/// How long a log-in session lasts.
pub const SESSION_TTL: TimeDelta = TimeDelta::days(14);

/// Service tokens start with this, so they are told from JWTs (and found by secret scanners).
pub const SERVICE_TOKEN_PREFIX: &str = "qah_";

/// The identity-related settings, from the configuration.
#[derive(Default)]
pub struct AuthSettings {
    /// Verifies tokens signed by the host site; `None` refuses every JWT.
    pub host_tokens: Option<HostTokens>,
    /// Service tokens seen lately, for the answer path only (see [`Services::authenticate_poster`]).
    pub poster_cache: PosterCache,
}

/// Service token hash → identity, for posting answers: a database read per post costs the
/// hub about a third of its saturated post rate (docs/benchmarks.md). An entry is trusted for
/// [`PosterCache::TTL`] only to name the author: whether the token is still valid is checked
/// again by the group commit, one query per batch, before the answer is written.
#[derive(Default)]
pub struct PosterCache(Mutex<HashMap<Vec<u8>, (Identity, Instant)>>);

impl PosterCache {
    const TTL: Duration = Duration::from_secs(60);
    /// Past this many entries the cache starts over, so it cannot grow without bound.
    const MAX: usize = 10_000;

    fn get(&self, hash: &[u8]) -> Option<Identity> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(identity, _)| identity.clone())
    }

    fn put(&self, hash: Vec<u8>, identity: Identity) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(hash, (identity, Instant::now()));
    }

    fn forget(&self, hash: &[u8]) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
    }
}

/// A new random secret: 256 bits, URL-safe base64.
fn random_secret() -> Result<String, DomainError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DomainError::internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What a token is stored as.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The id a `revoked` event names `credential` by; `None` for a host-signed token, which is
/// never revoked here (it ends at its `exp`).
pub fn credential_id(credential: &Credential) -> Option<CredentialId> {
    match credential {
        Credential::Session(token) => Some(CredentialId::of_hash(&token_hash(token))),
        Credential::Bearer(token) if token.starts_with(SERVICE_TOKEN_PREFIX) => {
            Some(CredentialId::of_hash(&token_hash(token)))
        }
        Credential::Bearer(_) => None,
    }
}

/// A log-in session just started: the cookie's value, shown once.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
}

/// A credential that checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub identity: Identity,
    /// The session's CSRF token, when the credential was a log-in session.
    pub csrf_token: Option<String>,
    /// When the credential stops counting: a session's end, a host-signed token's `exp`;
    /// `None` for a service token, which lasts until it is revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An Argon2id hash of a fixed password, verified when a handle is unknown so that a log-in's
/// time does not tell whether the handle exists.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default().hash_password(b"decoy password").map(|h| h.to_string()).unwrap_or_default()
    })
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes: OWASP's minimum), off the async
/// threads: one hash takes tens of milliseconds of CPU.
async fn hash_password(password: Password) -> Result<String, DomainError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_str().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| DomainError::internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| DomainError::internal(format!("hashing task: {e}")))?
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

impl Services {
    /// Creates an account with a password (sign-up page, `qa-hub user create`).
    pub async fn create_account(
        &self,
        handle: Handle,
        display_name: Name,
        password: Password,
        role: Role,
    ) -> Result<User, DomainError> {
        let password_hash = hash_password(password).await?;
        self.store
            .create_user(NewUser {
                handle: Some((handle.as_str().to_owned(), handle.key())),
                display_name: display_name.into_inner(),
                role,
                password_hash: Some(password_hash),
                external: None,
            })
            .await
    }

    /// Checks a handle and password and starts a session. Unknown handle and wrong password
    /// are one error, in the same time.
    pub async fn log_in(&self, handle: &str, password: String) -> Result<NewSession, DomainError> {
        let wrong = || DomainError::invalid_credentials("Wrong handle or password.");
        let login = match Handle::parse(handle) {
            Ok(handle) => self.store.login_by_handle(&handle.key()).await?,
            Err(_) => None,
        };
        let hash = login.as_ref().and_then(|l| l.password_hash.clone());
        let verified =
            verify_password(password, hash.clone().unwrap_or_else(|| decoy_hash().to_owned())).await;
        match login {
            Some(login) if verified && hash.is_some() => self.start_session(login.identity).await,
            _ => Err(wrong()),
        }
    }

    /// Starts a log-in session for `identity` (after a log-in, or a sign-up).
    pub async fn start_session(&self, identity: Identity) -> Result<NewSession, DomainError> {
        let (token, csrf) = (random_secret()?, random_secret()?);
        self.store
            .create_session(&token_hash(&token), identity.user_id, &csrf, Utc::now() + SESSION_TTL)
            .await?;
        Ok(NewSession { token })
    }

    /// Ends a session (log-out); an unknown one is already ended. Every connection resting
    /// on it, on any node, hears of it (a `revoked` event on the user's topic, committed with
    /// the log-out) and ends its private subscriptions.
    pub async fn log_out(&self, session_token: &str) -> Result<(), DomainError> {
        let (store, broker, hash) = (self.store.clone(), self.broker.clone(), token_hash(session_token));
        // Its own task, like every write: a hung-up client must not leave a commit unannounced.
        tokio::spawn(async move {
            if let Some(event) = store.delete_session(&hash).await? {
                broker.publish(std::slice::from_ref(&event));
            }
            Ok(())
        })
        .await
        .map_err(|e| DomainError::internal(format!("log-out task failed: {e}")))?
    }

    /// Who a credential stands for; an unknown, expired, revoked or wrongly signed one is
    /// `Unauthenticated` (`invalid_credentials`).
    pub async fn authenticate(&self, credential: &Credential) -> Result<Authenticated, DomainError> {
        match credential {
            Credential::Session(token) => {
                let session = self.store.session(&token_hash(token)).await?;
                match session.filter(|s| s.expires_at > Utc::now()) {
                    Some(s) => Ok(Authenticated {
                        identity: s.identity,
                        csrf_token: Some(s.csrf_token),
                        expires_at: Some(s.expires_at),
                    }),
                    None => Err(DomainError::invalid_credentials("The session has ended; log in again.")),
                }
            }
            Credential::Bearer(token) if token.starts_with(SERVICE_TOKEN_PREFIX) => {
                match self.store.token_identity(&token_hash(token)).await? {
                    Some(identity) => Ok(Authenticated { identity, csrf_token: None, expires_at: None }),
                    None => Err(DomainError::invalid_credentials("The token is unknown or revoked.")),
                }
            }
            Credential::Bearer(token) => {
                let Some(host) = &self.auth.host_tokens else {
                    return Err(DomainError::invalid_credentials(
                        "The token is not a service token, and this hub accepts no host-signed tokens.",
                    ));
                };
                let (sub, name, expires_at) = host.verify(token)?;
                let identity = self.store.external_user(host.issuer(), sub.as_str(), &name).await?;
                Ok(Authenticated { identity, csrf_token: None, expires_at })
            }
        }
    }

    /// Who posts an answer with this credential, and, for a service token, its hash for the
    /// group commit to check again in the batch that writes the answer. A service token is
    /// looked up in the database at most once a minute per node; its revocation still holds
    /// for every answer not yet written, because the batch checks it. Other credentials go
    /// through [`Services::authenticate`].
    pub async fn authenticate_poster(
        &self,
        credential: &Credential,
    ) -> Result<(Authenticated, Option<Vec<u8>>), DomainError> {
        let token = match credential {
            Credential::Bearer(token) if token.starts_with(SERVICE_TOKEN_PREFIX) => token,
            _ => return Ok((self.authenticate(credential).await?, None)),
        };
        let hash = token_hash(token);
        let identity = match self.auth.poster_cache.get(&hash) {
            Some(identity) => identity,
            None => {
                let identity = self.authenticate(credential).await?.identity;
                self.auth.poster_cache.put(hash.clone(), identity.clone());
                identity
            }
        };
        Ok((Authenticated { identity, csrf_token: None, expires_at: None }, Some(hash)))
    }

    /// A new service token for `user_id`: the token (shown once) and its listing.
    pub async fn create_token(
        &self,
        user_id: Uuid,
        name: &str,
    ) -> Result<(String, ServiceToken), DomainError> {
        let name = TokenName::parse(name)?;
        let token = format!("{SERVICE_TOKEN_PREFIX}{}", random_secret()?);
        let listed = self.store.create_token(user_id, name.as_str(), &token_hash(&token)).await?;
        Ok((token, listed))
    }

    pub async fn tokens(&self, user_id: Uuid) -> Result<Vec<ServiceToken>, DomainError> {
        self.store.tokens_of(user_id).await
    }

    /// Revokes one of the user's tokens: from now on, on every node, it authenticates nothing,
    /// and every connection resting on it ends its private subscriptions (a `revoked` event on
    /// the user's topic, committed with the revocation).
    pub async fn revoke_token(&self, user_id: Uuid, token_id: Uuid) -> Result<(), DomainError> {
        let (store, broker) = (self.store.clone(), self.broker.clone());
        let revoked = tokio::spawn(async move {
            let revoked = store.revoke_token(user_id, token_id).await?;
            if let Some(event) = revoked.as_ref().and_then(|r| r.event.as_ref()) {
                broker.publish(std::slice::from_ref(event));
            }
            Ok::<_, DomainError>(revoked)
        })
        .await
        .map_err(|e| DomainError::internal(format!("revoke task failed: {e}")))??;
        match revoked {
            Some(revoked) => {
                // This node forgets it at once; the others' batches check it before writing.
                self.auth.poster_cache.forget(&revoked.token_hash);
                Ok(())
            }
            None => Err(DomainError::NotFound {
                code: "token_not_found",
                message: "You have no token with that id.".into(),
            }),
        }
    }

    /// The id of the user with this handle (for the CLI).
    pub async fn user_by_handle(&self, handle: &Handle) -> Result<Uuid, DomainError> {
        let login = self.store.login_by_handle(&handle.key()).await?;
        login.map(|l| l.identity.user_id).ok_or_else(|| DomainError::NotFound {
            code: "user_not_found",
            message: format!("No user has the handle {:?}.", handle.as_str()),
        })
    }
}

/// Shared so the services stay cheap to clone.
pub type SharedAuth = Arc<AuthSettings>;
