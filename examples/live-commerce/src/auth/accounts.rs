//! Accounts in PostgreSQL (`accounts`, migration `0003`): create, find,
//! grant the admin role.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Row};
use uuid::Uuid;

use crate::api::ApiError;

/// Longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LENGTH: usize = 254;

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account id (a random UUID: not guessable, not a count).
    pub user_id: Uuid,
    /// The normalised email.
    pub email: String,
    /// Holds the admin role.
    pub admin: bool,
}

/// The email as stored: trimmed and lower-cased. Refuses (`400
/// INVALID_EMAIL`) anything that is not `local@domain.tld` within 254
/// characters, without spaces or control characters.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let invalid = || ApiError::bad_request("INVALID_EMAIL", "a valid email address is required");
    if email.len() > MAX_EMAIL_LENGTH || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.contains('@')
        && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

/// Creates an account (on a pool, or in the caller's transaction); `None`
/// when the email is taken.
pub async fn create(
    db: impl PgExecutor<'_>,
    email: &str,
    password_hash: &str,
) -> sqlx::Result<Option<Account>> {
    let id = Uuid::new_v4();
    let inserted = sqlx::query(
        "INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .execute(db)
    .await?;
    Ok((inserted.rows_affected() == 1).then(|| Account {
        user_id: id,
        email: email.to_string(),
        admin: false,
    }))
}

/// The account with `email` and its password hash.
pub async fn find_by_email(pool: &PgPool, email: &str) -> sqlx::Result<Option<(Account, String)>> {
    let row = sqlx::query("SELECT id, email, admin, password_hash FROM accounts WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|row| (account(&row), row.get("password_hash"))))
}

/// The account `id`.
pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Account>> {
    let row = sqlx::query("SELECT id, email, admin FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(account))
}

/// Grants the admin role to `email`'s account; `false` when there is none.
pub async fn grant_admin(pool: &PgPool, email: &str) -> sqlx::Result<bool> {
    let updated = sqlx::query("UPDATE accounts SET admin = true WHERE email = $1")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(updated.rows_affected() == 1)
}

fn account(row: &sqlx::postgres::PgRow) -> Account {
    Account {
        user_id: row.get("id"),
        email: row.get("email"),
        admin: row.get("admin"),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        assert_eq!(
            normalize_email("a.b+shop@mail.example.org").unwrap(),
            "a.b+shop@mail.example.org"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "ann@exa mple.com",
            "ann@example..com",
            "ann@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err());
    }
}
