//! Connections per client address: a count per IP, and a slot that gives
//! its place back when the connection ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections per client address, for [`Server::max_connections_per_ip`].
pub(super) type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Releases a connection's slot in the per-address count when it ends.
pub(super) struct IpSlot {
    counts: PerIp,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Takes a slot for `ip`, or `None` when it already holds `max`.
pub(super) fn take_slot(counts: &PerIp, ip: IpAddr, max: usize) -> Option<IpSlot> {
    let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
    let n = map.entry(ip).or_insert(0);
    if *n >= max {
        return None;
    }
    *n += 1;
    Some(IpSlot { counts: counts.clone(), ip })
}
