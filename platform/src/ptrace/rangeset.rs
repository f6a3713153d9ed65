//! The set of address ranges a context has mapped, so `protect` can skip
//! holes (mprotect fails with ENOMEM on them) and `unmap` can skip ranges
//! with nothing mapped.

use std::collections::BTreeMap;

/// Disjoint, coalesced half-open ranges `[start, end)`.
#[derive(Default, Debug)]
pub struct RangeSet {
    /// start -> end
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    pub fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        let touching: Vec<(u64, u64)> =
            self.map.range(..=end).rev().take_while(|&(_, &e)| e >= start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in touching {
            self.map.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.map.insert(start, end);
    }

    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let overlapping: Vec<(u64, u64)> =
            self.map.range(..end).rev().take_while(|&(_, &e)| e > start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in overlapping {
            self.map.remove(&s);
            if s < start {
                self.map.insert(s, start);
            }
            if e > end {
                self.map.insert(end, e);
            }
        }
    }

    /// The parts of `[start, end)` in the set, in ascending order.
    pub fn intersect(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        if start >= end {
            return Vec::new();
        }
        let mut v: Vec<(u64, u64)> = self
            .map
            .range(..end)
            .rev()
            .take_while(|&(_, &e)| e > start)
            .map(|(&s, &e)| (s.max(start), e.min(end)))
            .collect();
        v.reverse();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_intersect() {
        let mut r = RangeSet::default();
        r.insert(0x1000, 0x3000);
        r.insert(0x5000, 0x6000);
        r.insert(0x3000, 0x4000); // coalesces with the first
        assert_eq!(r.intersect(0, u64::MAX), vec![(0x1000, 0x4000), (0x5000, 0x6000)]);
        assert_eq!(r.intersect(0x2000, 0x5800), vec![(0x2000, 0x4000), (0x5000, 0x5800)]);
        assert_eq!(r.intersect(0x4000, 0x5000), vec![]);
        r.remove(0x2000, 0x3000); // splits
        assert_eq!(r.intersect(0, u64::MAX), vec![(0x1000, 0x2000), (0x3000, 0x4000), (0x5000, 0x6000)]);
        r.insert(0x0, 0x10000); // swallows everything
        assert_eq!(r.intersect(0, u64::MAX), vec![(0, 0x10000)]);
        r.remove(0, 0x10000);
        assert!(r.intersect(0, u64::MAX).is_empty());
    }
}
