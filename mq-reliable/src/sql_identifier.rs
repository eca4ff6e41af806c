//! Table names the PostgreSQL inbox and outbox splice into their SQL.

use crate::error::{Error, Result};

/// Checks that `table` is a plain identifier (letters, digits, `_`, not
/// starting with a digit), optionally `schema.table`, so it is safe to put
/// into a statement. `what` names the table in the error ("inbox").
#[cfg_attr(not(any(feature = "postgres", feature = "outbox")), allow(dead_code))]
pub(crate) fn checked_table(what: &str, table: String) -> Result<String> {
    let valid = !table.is_empty()
        && table.split('.').count() <= 2
        && table.split('.').all(|part| {
            !part.is_empty()
                && !part.starts_with(|c: char| c.is_ascii_digit())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if valid {
        Ok(table)
    } else {
        Err(Error::Config(format!(
            "{what} table name `{table}` must be a plain identifier"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::checked_table;

    #[test]
    fn only_plain_identifiers_pass() {
        for good in ["mq_inbox", "app.mq_inbox", "_x1"] {
            assert!(checked_table("inbox", good.into()).is_ok(), "{good}");
        }
        for bad in ["x; drop table y", "1abc", "a.b.c", "", "a.", "a-b"] {
            assert!(checked_table("inbox", bad.into()).is_err(), "{bad}");
        }
    }
}
