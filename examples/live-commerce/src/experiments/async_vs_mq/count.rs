//! Counting at the SMTP sink: which of the expected mails arrived, how many
//! never did, how many came more than once. Mails are told apart by their
//! Message-ID, derived from the account, so a second copy is countable.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::mail::sink::ReceivedMail;

/// The mails of one trial, as counted at the sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Expected mails that arrived at least once.
    pub received: usize,
    /// Expected mails that never arrived.
    pub lost: usize,
    /// Copies beyond the first (3 copies of one mail count 2).
    pub duplicated: usize,
}

impl Count {
    /// Counts `mails` against the Message-IDs `expected` (other mails are
    /// ignored).
    pub fn of(expected: &HashSet<String>, mails: &[ReceivedMail]) -> Self {
        let mut copies: HashMap<&str, usize> = HashMap::new();
        for id in mails.iter().filter_map(|mail| mail.message_id.as_deref()) {
            if expected.contains(id) {
                *copies.entry(id).or_default() += 1;
            }
        }
        Count {
            received: copies.len(),
            lost: expected.len() - copies.len(),
            duplicated: copies.values().map(|n| n - 1).sum(),
        }
    }

    /// Mails delivered, copies included.
    pub fn delivered(&self) -> usize {
        self.received + self.duplicated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(id: &str) -> ReceivedMail {
        ReceivedMail {
            message_id: Some(id.to_string()),
            to: None,
            subject: None,
        }
    }

    #[test]
    fn lost_and_duplicated_are_counted_by_message_id() {
        let expected: HashSet<String> = ["<a>", "<b>", "<c>"].map(String::from).into();
        let mails = [
            mail("<a>"),
            mail("<a>"),
            mail("<a>"),
            mail("<b>"),
            mail("<x>"),
        ];
        let count = Count::of(&expected, &mails);
        assert_eq!(
            count,
            Count {
                received: 2,
                lost: 1,
                duplicated: 2
            }
        );
        assert_eq!(count.delivered(), 4);
        assert_eq!(Count::of(&expected, &[]).lost, 3);
    }
}
