//! Fenced rows in PostgreSQL: the fence is a `BIGINT` column of the
//! protected row, raised by the first statement of the holder's transaction.

use sqlx::{AssertSqlSafe, Encode, PgTransaction, Postgres, Type};

use crate::error::{Error, Result};

/// Fences the rows of one table: `key_column` finds the row, `fence_column`
/// (`BIGINT NOT NULL DEFAULT 0`) keeps the newest token that touched it.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool, locks: redlock::LockManager) -> redlock::Result<()> {
/// use redlock::fence::PgFence;
///
/// let stock = PgFence::new("items", "id", "fence")?;
/// let guard = locks.lock("item:7").await?;
/// let mut tx = pool.begin().await?;
/// // First: raise the fence (and lock the row). Err(Fenced) if a newer holder came.
/// stock.raise(&mut tx, 7_i64, guard.fencing_token()).await?;
/// let left: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = 7")
///     .fetch_one(&mut *tx)
///     .await?;
/// sqlx::query("UPDATE items SET stock = $1 WHERE id = 7")
///     .bind(left - 1)
///     .execute(&mut *tx)
///     .await?;
/// tx.commit().await?;
/// guard.unlock().await?;
/// # Ok(()) }
/// ```
///
/// **What it protects:** every statement of the transaction after
/// [`raise`](Self::raise), on that row. The raise is an `UPDATE`, so the row
/// stays locked until the transaction ends: an older holder's raise finds the
/// newer fence and is refused, a newer holder's raise waits for this
/// transaction and then sees what it wrote. Statements on other rows, or
/// outside the transaction, are not fenced.
#[derive(Debug, Clone)]
pub struct PgFence {
    raise_sql: String,
    fence_sql: String,
}

impl PgFence {
    /// Fences rows of `table` (optionally `schema.table`), found by
    /// `key_column`, with their fence in `fence_column`. Each name must be a
    /// plain identifier (letters, digits, `_`), else `Err(Error::Config)`.
    pub fn new(table: &str, key_column: &str, fence_column: &str) -> Result<Self> {
        check_identifier(table, 2)?;
        check_identifier(key_column, 1)?;
        check_identifier(fence_column, 1)?;
        Ok(Self {
            raise_sql: format!(
                "UPDATE {table} SET {fence_column} = $2 \
                 WHERE {key_column} = $1 AND {fence_column} <= $2"
            ),
            fence_sql: format!("SELECT {fence_column} FROM {table} WHERE {key_column} = $1"),
        })
    }

    /// Raises the fence of the row whose key is `key` to `token` and locks the
    /// row for the rest of `tx`. Call it before reading the row.
    ///
    /// `Err(Error::Fenced)`: a newer holder has touched the row, so this
    /// holder's lease has run out; roll back. `Err(Error::Database)` with
    /// `sqlx::Error::RowNotFound` when no row has that key.
    pub async fn raise<K>(&self, tx: &mut PgTransaction<'_>, key: K, token: u64) -> Result<()>
    where
        K: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + Clone,
    {
        let presented = i64::try_from(token).unwrap_or(i64::MAX);
        let raised = sqlx::query(AssertSqlSafe(self.raise_sql.as_str()))
            .bind(key.clone())
            .bind(presented)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if raised == 1 {
            return Ok(());
        }
        let fence: i64 = sqlx::query_scalar(AssertSqlSafe(self.fence_sql.as_str()))
            .bind(key)
            .fetch_one(&mut **tx)
            .await?;
        Err(Error::Fenced {
            token,
            fence: u64::try_from(fence).unwrap_or_default(),
        })
    }
}

/// A plain identifier of at most `parts` dot-separated parts, safe to splice
/// into a statement.
fn check_identifier(name: &str, parts: usize) -> Result<()> {
    let valid = name.split('.').count() <= parts
        && name.split('.').all(|part| {
            !part.is_empty()
                && !part.starts_with(|c: char| c.is_ascii_digit())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if valid {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "`{name}` must be a plain SQL identifier"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::PgFence;

    #[test]
    fn only_plain_identifiers_are_spliced_into_sql() {
        assert!(PgFence::new("items", "id", "fence").is_ok());
        assert!(PgFence::new("shop.items", "item_id", "fence_2").is_ok());
        for (table, key, fence) in [
            ("items; drop table x", "id", "fence"),
            ("a.b.c", "id", "fence"),
            ("items", "shop.id", "fence"),
            ("items", "id", "1fence"),
            ("", "id", "fence"),
            ("items", "id", "fen-ce"),
        ] {
            assert!(
                PgFence::new(table, key, fence).is_err(),
                "{table} {key} {fence}"
            );
        }
    }
}
