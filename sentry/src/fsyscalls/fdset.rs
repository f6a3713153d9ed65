//! `fd_set` bitmaps for select/pselect6 (64-bit words, bit n%64 of word
//! n/64).

/// A bitmap of `nfds` bits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FdSet(pub Vec<u64>);

impl FdSet {
    pub fn words(nfds: usize) -> usize {
        nfds.div_ceil(64)
    }

    pub fn zeroed(nfds: usize) -> FdSet {
        FdSet(vec![0; Self::words(nfds)])
    }

    pub fn from_bytes(b: &[u8], nfds: usize) -> FdSet {
        let mut v: Vec<u64> = b.chunks(8).map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_ne_bytes(w)
        }).collect();
        // Bits at or past nfds are ignored.
        if !nfds.is_multiple_of(64) {
            if let Some(last) = v.last_mut() {
                *last &= (1u64 << (nfds % 64)) - 1;
            }
        }
        FdSet(v)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    pub fn has(&self, fd: usize) -> bool {
        self.0.get(fd / 64).is_some_and(|w| w & (1 << (fd % 64)) != 0)
    }

    pub fn set(&mut self, fd: usize) {
        if let Some(w) = self.0.get_mut(fd / 64) {
            *w |= 1 << (fd % 64);
        }
    }

    /// Every fd in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, w)| (0..64).filter(move |b| w & (1 << b) != 0).map(move |b| i * 64 + b))
    }

    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_trailing_mask() {
        let mut b = vec![0u8; 16];
        b[0] = 0b1000_0101;
        b[8] = 0xff;
        let s = FdSet::from_bytes(&b, 66);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 2, 7, 64, 65]);
        assert!(s.has(65) && !s.has(66));
        let mut o = FdSet::zeroed(66);
        o.set(65);
        o.set(3);
        assert_eq!(o.count(), 2);
        assert_eq!(o.to_bytes().len(), 16);
        assert_eq!(o.to_bytes()[8], 2);
    }
}
