//! Tokens a host site signs for its users (JWT): which key, algorithm and issuer to accept,
//! and what a valid token says (the user's `sub`, their name, its expiry). A pure value, built
//! once from the settings; the identity service asks it to verify each presented token.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{DomainError, Name, Subject};

/// Verifies a host site's signed tokens: one algorithm, one key, one issuer.
pub struct HostTokens {
    key: DecodingKey,
    validation: Validation,
    issuer: String,
}

/// What a host-signed token carries.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    /// Required by the validation; kept so a connection can end what it holds at this time.
    exp: i64,
}

impl HostTokens {
    /// HS256 with a shared secret (at least 32 bytes).
    pub fn hs256(secret: &[u8], issuer: &str) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("must be at least 32 bytes; generate one with `openssl rand -hex 32`".into());
        }
        Ok(Self::new(DecodingKey::from_secret(secret), Algorithm::HS256, issuer))
    }

    /// EdDSA (Ed25519) or RS256, by the PEM public key's type.
    pub fn public_key(pem: &[u8], issuer: &str) -> Result<Self, String> {
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(Self::new(key, Algorithm::EdDSA, issuer));
        }
        let key = DecodingKey::from_rsa_pem(pem)
            .map_err(|_| "is not an Ed25519 or RSA public key in PEM".to_owned())?;
        Ok(Self::new(key, Algorithm::RS256, issuer))
    }

    /// The `iss` every accepted token carries: with a token's `sub`, it names the user.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn new(key: DecodingKey, algorithm: Algorithm, issuer: &str) -> Self {
        // Only the configured algorithm: a token naming another (`none`, or HS256 signed with
        // the public key as a secret) is refused before its signature is looked at.
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        // Clocks of two machines differ a little.
        validation.leeway = 30;
        Self { key, validation, issuer: issuer.to_owned() }
    }

    /// The subject, display name and expiry of a valid token. Both stored claims follow the
    /// rules of the hub's own one-line fields: a claim that breaks them is refused, and nothing
    /// is stored.
    pub fn verify(&self, token: &str) -> Result<(Subject, Name, Option<DateTime<Utc>>), DomainError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            tracing::debug!(error = %e, "host-signed token refused");
            DomainError::invalid_credentials(format!("The token is not valid: {}.", reason(&e)))
        })?;
        let Claims { sub, name, exp } = data.claims;
        let refused = |claim: &str, e: DomainError| {
            DomainError::invalid_credentials(format!("The token's {claim} is not valid: {e}"))
        };
        let sub = Subject::parse_exact(sub).map_err(|e| refused("sub", e))?;
        // Without a name, the user is shown by their sub (cut to a name's length).
        let name = match name {
            Some(name) => Name::parse(name).map_err(|e| refused("name", e))?,
            None => Name::or_shortened(sub.as_str()).map_err(|e| refused("sub", e))?,
        };
        Ok((sub, name, DateTime::from_timestamp(exp, 0)))
    }
}

/// Why a JWT was refused, in a few words a site's developer can act on.
fn reason(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidSignature => "wrong signature",
        ErrorKind::InvalidAlgorithm => "wrong algorithm",
        ErrorKind::MissingRequiredClaim(_) => "a required claim (exp, iss, sub) is missing",
        _ => "malformed",
    }
}
