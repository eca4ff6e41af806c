//! Who is on the other end of a socket, and the revocations that end it.

/// Who is on the other end of a socket (from the auth hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user.
    pub user_id: String,
    /// The session the socket was opened with, if sessions are tracked.
    pub session_id: Option<String>,
}

/// A revocation: the sockets it matches are closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// These sessions of the user ended (a socket without a session id
    /// matches any of the user's sessions).
    Sessions {
        /// The user.
        user_id: String,
        /// The sessions.
        session_ids: Vec<String>,
    },
    /// Every socket of the user.
    User(String),
    /// Revocations may have been missed (the revocation subscription was
    /// re-established): every socket is re-checked with the
    /// [`verify`](super::WsBridge::verify) hook, if one is set.
    Recheck,
}

impl Revoked {
    pub(crate) fn matches(&self, identity: &Identity) -> bool {
        match self {
            Revoked::Recheck => false,
            Revoked::User(user) => *user == identity.user_id,
            Revoked::Sessions {
                user_id,
                session_ids,
            } => {
                *user_id == identity.user_id
                    && identity
                        .session_id
                        .as_ref()
                        .is_none_or(|session| session_ids.contains(session))
            }
        }
    }
}
