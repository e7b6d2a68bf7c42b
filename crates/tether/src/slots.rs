//! A table of entries addressed by a `u32`, for the tables a server keeps
//! one entry per connection in (timer slots, shutdown wakers, tasks):
//! grown a chunk of [`CHUNK`] entries at a time rather than by doubling,
//! which leaves up to half of a vector's room unused (at 10,000
//! connections a doubled table of 16,384 entries is 39 % empty).

/// Entries per chunk.
const CHUNK: usize = 1024;

/// Entries in chunks that never move; freed entries are reused first.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    chunks: Vec<Vec<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { chunks: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slots<T> {
    /// Stores `value` in a free entry, or a new one, and returns its index.
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        if let Some(index) = self.free.pop() {
            if let Some(entry) = self.get_mut(index) {
                *entry = value;
                return index;
            }
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        let index = (self.chunks.len() - 1) * CHUNK + self.chunks.last().map_or(1, Vec::len) - 1;
        // More than 4 billion entries at once is not a case to serve.
        u32::try_from(index).unwrap_or(u32::MAX)
    }

    /// Marks entry `index` free for reuse (its value stays until then:
    /// the caller resets it first).
    pub(crate) fn remove(&mut self, index: u32) {
        if self.get(index).is_some() {
            self.free.push(index);
        }
    }

    pub(crate) fn get(&self, index: u32) -> Option<&T> {
        let index = index as usize;
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        let index = index as usize;
        self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)
    }

    /// Every entry ever made, free ones included.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// As [`iter`](Self::iter), mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }

    /// Entries in use.
    pub(crate) fn live(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum::<usize>() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_chunks_and_reuses_freed_entries() {
        let mut slots = Slots::default();
        for i in 0..CHUNK + 1 {
            assert_eq!(slots.insert(i), u32::try_from(i).unwrap());
        }
        assert_eq!(slots.chunks.len(), 2);
        assert_eq!(slots.chunks[1].capacity(), CHUNK, "a chunk is allocated at its full size once");
        slots.remove(5);
        slots.remove(5_000); // not an entry: ignored
        assert_eq!(slots.live(), CHUNK);
        assert_eq!(slots.insert(7), 5, "a freed entry is reused");
        assert_eq!(slots.get(5), Some(&7));
        assert_eq!(slots.get(CHUNK as u32), Some(&CHUNK));
        assert_eq!(slots.iter().count(), CHUNK + 1);
    }
}
