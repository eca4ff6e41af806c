//! Shared by the example's tests: fresh services and a running system.

#![allow(dead_code)]

use live_commerce::config::Config;

/// Fresh, isolated services: a Redis server, a RabbitMQ vhost and a database.
pub struct Services {
    pub redis: testkit::RedisServer,
    pub rabbit: testkit::RabbitVhost,
    pub postgres: testkit::PgDatabase,
}

impl Services {
    pub async fn start() -> Self {
        let (redis, rabbit, postgres) =
            tokio::join!(testkit::redis(), testkit::rabbitmq(), testkit::postgres());
        Self {
            redis,
            rabbit,
            postgres,
        }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::from_env();
        config.redis_url = self.redis.url();
        config.amqp_url = self.rabbit.url();
        config.database_url = self.postgres.url().to_string();
        config
    }
}
