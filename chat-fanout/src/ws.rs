//! WebSocket adapter for axum (feature `axum`).
