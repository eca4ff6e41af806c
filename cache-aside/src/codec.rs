//! How values are written to Redis.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The encoding of cached values in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Codec {
    /// JSON: readable with `redis-cli`, by other languages, and by humans
    /// debugging at 3 a.m. The default.
    #[default]
    Json,
    /// MessagePack (via `rmp-serde`): smaller and faster to decode, still
    /// readable by every mainstream language.
    MessagePack,
}

impl Codec {
    pub(crate) fn encode<T: Serialize>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            Codec::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
            Codec::MessagePack => rmp_serde::to_vec_named(value).map_err(|e| e.to_string()),
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Codec::MessagePack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}
