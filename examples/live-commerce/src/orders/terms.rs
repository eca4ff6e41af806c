//! The payment window an order is placed under, and where its expiry
//! message goes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mq_reliable::amqp::DelayRoute;
use mq_reliable::outbox::Outbox;

/// How long a buyer has to pay, and the delayed route that ends the window.
#[derive(Debug, Clone)]
pub struct PaymentTerms {
    window: Duration,
    expiry: DelayRoute,
    outbox: Outbox,
}

impl PaymentTerms {
    /// Terms with `window`; `expiry` must delay by `window` (see
    /// [`expiry::route`](super::expiry::route)).
    pub fn new(window: Duration, expiry: DelayRoute, outbox: Outbox) -> Self {
        debug_assert_eq!(expiry.delay(), window);
        Self {
            window,
            expiry,
            outbox,
        }
    }

    /// The payment window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// When an order accepted at `accepted_at` can no longer be paid.
    pub fn expires_at(&self, accepted_at: DateTime<Utc>) -> DateTime<Utc> {
        accepted_at
            + chrono::Duration::from_std(self.window)
                .expect("a window the broker accepts (under 50 days)")
    }

    /// The delayed route of expiry messages.
    pub fn expiry_route(&self) -> &DelayRoute {
        &self.expiry
    }

    /// The outbox the expiry messages are enqueued in.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}
