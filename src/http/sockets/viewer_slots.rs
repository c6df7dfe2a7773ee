//! Bounds on viewer sockets: at most `--max-viewers` open at once, and at most
//! `--max-viewers-per-address` from one client address, so that no client can hold the server's
//! sockets (and file descriptors) for free. A slot is taken before the upgrade and given back when
//! the socket's task ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open viewer sockets, in total and per client address.
#[derive(Debug)]
pub struct ViewerSlots {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Sockets per address; an address leaves the map with its last socket, so the map is as big as
    /// the number of addresses with a socket open.
    per_address: HashMap<Option<IpAddr>, usize>,
}

/// Why a viewer socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefused {
    #[error("this server already has its maximum of {0} viewer connections; try again later")]
    ServerFull(usize),
    #[error("too many viewer connections from your address (at most {0}); close some tabs")]
    AddressFull(usize),
}

/// A viewer socket's slot, given back when dropped.
#[derive(Debug)]
pub struct ViewerSlot {
    slots: Arc<ViewerSlots>,
    address: Option<IpAddr>,
}

impl ViewerSlots {
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<ViewerSlots> {
        Arc::new(ViewerSlots { max_total, max_per_address, open: Mutex::new(Open::default()) })
    }

    /// Takes a slot for a viewer from `address` (unknown addresses share one count), or says why not.
    pub fn take(self: &Arc<Self>, address: Option<IpAddr>) -> Result<ViewerSlot, SlotRefused> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.total >= self.max_total {
            return Err(SlotRefused::ServerFull(self.max_total));
        }
        if open.per_address.get(&address).copied().unwrap_or(0) >= self.max_per_address {
            return Err(SlotRefused::AddressFull(self.max_per_address));
        }
        *open.per_address.entry(address).or_insert(0) += 1;
        open.total += 1;
        Ok(ViewerSlot { slots: Arc::clone(self), address })
    }
}

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.total -= 1;
        if let Some(count) = open.per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_address_and_in_total_and_given_back() {
        let slots = ViewerSlots::new(3, 2);
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), SlotRefused::AddressFull(2));
        let _third = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), SlotRefused::ServerFull(3));
        drop(first);
        let _again = slots.take(a).unwrap();
        assert_eq!(slots.open.lock().unwrap().per_address.len(), 2);
    }
}
