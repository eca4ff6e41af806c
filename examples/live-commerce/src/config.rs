//! Where the services are: read from the environment, with the defaults of
//! `scripts/dev-services env`, so a fresh checkout runs without configuration.

/// Addresses of every backing service.
#[derive(Debug, Clone)]
pub struct Config {
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `AMQP_URL`.
    pub amqp_url: String,
    /// `RABBITMQ_MANAGEMENT_URL` (used for the broker's version only).
    pub rabbitmq_management_url: String,
    /// `KAFKA_BROKERS`.
    pub kafka_brokers: String,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `SMTP_URL`: where welcome mails go (`smtp://host:port`, see
    /// [`mail::smtp`](crate::mail::smtp) for TLS).
    pub smtp_url: String,
}

impl Config {
    /// Reads the environment; unset or empty variables take the dev-services defaults.
    pub fn from_env() -> Self {
        Self {
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
            amqp_url: var("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            rabbitmq_management_url: var(
                "RABBITMQ_MANAGEMENT_URL",
                "http://guest:guest@127.0.0.1:15672",
            ),
            kafka_brokers: var("KAFKA_BROKERS", "127.0.0.1:9092"),
            database_url: var(
                "DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/postgres",
            ),
            smtp_url: var("SMTP_URL", "smtp://127.0.0.1:2525"),
        }
    }
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The URL with any password replaced by `***`, for printing.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://postgres:secret@h:5432/db"),
            "postgres://postgres:***@h:5432/db"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("127.0.0.1:9092"), "127.0.0.1:9092");
    }
}
