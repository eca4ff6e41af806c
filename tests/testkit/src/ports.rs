//! Free local ports.

use std::net::{Ipv4Addr, TcpListener};

use crate::error::{Result, TestkitError};

/// Asks the kernel for a free TCP port on 127.0.0.1.
///
/// The port is free when this returns, not reserved: a server started on it can
/// still lose a race with another process, so callers that start servers retry
/// with a new port when the bind fails.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| TestkitError::io("binding 127.0.0.1:0 to find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| TestkitError::io("reading the bound port", e))?
        .port();
    Ok(port)
}
