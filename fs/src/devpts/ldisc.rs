//! The line discipline of a pseudo-terminal (Linux's n_tty, reduced):
//! input processing of what the master writes (the slave reads it),
//! output processing of what the slave writes (the master reads it), and
//! echo. A pure state machine: no locking, no waiting, no signals sent
//! (signal characters are reported to the caller).
//!
//! Input: ISTRIP, IUCLC, IGNCR, ICRNL, INLCR, IXON/IXANY (VSTART/VSTOP).
//! Canonical mode (ICANON): line editing with VERASE, VKILL, VWERASE,
//! VLNEXT, VREPRINT (IEXTEN), lines end at '\n', VEOL, VEOL2 or VEOF (not
//! stored; an empty line at VEOF reads as end of file). Non-canonical
//! mode: VMIN with VTIME = 0 as on Linux; VMIN = 0 returns what is there
//! (possibly 0 bytes) at once; VMIN > 0 with VTIME > 0 returns as soon as
//! one byte is there (the inter-byte timer is not implemented).
//! Echo: ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL ("^X").
//! ISIG: VINTR, VQUIT, VSUSP give SIGINT, SIGQUIT, SIGTSTP (and flush
//! the input unless NOFLSH).
//! Output (OPOST): ONLCR, OCRNL, ONOCR, ONLRET, OLCUC, XTABS.

use std::collections::VecDeque;

/// Entries of `c_cc` in the kernel's `struct termios`.
pub const NCCS: usize = 19;
/// Size of the kernel's `struct termios` (what TCGETS copies).
pub const TERMIOS_SIZE: usize = 36;
/// Input buffer size (N_TTY_BUF_SIZE).
pub const INPUT_CAP: usize = 4096;
/// Bytes the master's read side buffers before slave writes wait.
pub const OUTPUT_CAP: usize = 65536;
/// Echoes beyond this (a master that never reads) are dropped.
const ECHO_SLACK: usize = 4096;

/// The kernel's `struct termios` (speeds live in `cflag`'s CBAUD bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

impl Termios {
    /// A new pty slave's settings (Linux's tty_std_termios with
    /// `B38400 | CS8 | CREAD`).
    pub fn slave_default() -> Termios {
        let mut cc = [0u8; NCCS];
        cc[libc::VINTR] = 0o003;
        cc[libc::VQUIT] = 0o034;
        cc[libc::VERASE] = 0o177;
        cc[libc::VKILL] = 0o025;
        cc[libc::VEOF] = 0o004;
        cc[libc::VTIME] = 0;
        cc[libc::VMIN] = 1;
        cc[libc::VSTART] = 0o021;
        cc[libc::VSTOP] = 0o023;
        cc[libc::VSUSP] = 0o032;
        cc[libc::VEOL] = 0;
        cc[libc::VREPRINT] = 0o022;
        cc[libc::VDISCARD] = 0o017;
        cc[libc::VWERASE] = 0o027;
        cc[libc::VLNEXT] = 0o026;
        cc[libc::VEOL2] = 0;
        Termios {
            iflag: libc::ICRNL | libc::IXON,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::B38400 | libc::CS8 | libc::CREAD,
            lflag: libc::ISIG | libc::ICANON | libc::ECHO | libc::ECHOE | libc::ECHOK | libc::ECHOCTL | libc::ECHOKE | libc::IEXTEN,
            line: 0,
            cc,
        }
    }

    /// The kernel's byte layout.
    pub fn to_bytes(&self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_ne_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_ne_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_ne_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_ne_bytes());
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut cc = [0u8; NCCS];
        cc.copy_from_slice(&b[17..]);
        Termios { iflag: word(0), oflag: word(4), cflag: word(8), lflag: word(12), line: b[16], cc }
    }

    fn i(&self, f: u32) -> bool {
        self.iflag & f != 0
    }
    fn o(&self, f: u32) -> bool {
        self.oflag & f != 0
    }
    fn l(&self, f: u32) -> bool {
        self.lflag & f != 0
    }
    fn c(&self, idx: usize) -> u8 {
        self.cc[idx]
    }
}

/// The kernel's iscntrl: C0 controls, DEL and the C1 range.
fn is_cntrl(c: u8) -> bool {
    c < 0x20 || (0x7f..0xa0).contains(&c)
}

/// One pty's line discipline state.
pub struct LineDiscipline {
    termios: Termios,
    /// Input not yet read by the slave (absolute position `read_tail`).
    buf: VecDeque<u8>,
    read_tail: u64,
    /// Canonical mode: end of the last completed line.
    canon_head: u64,
    /// Canonical mode: completed lines (end position, ended by VEOF).
    line_ends: VecDeque<(u64, bool)>,
    /// The previous character was VLNEXT.
    lnext: bool,
    /// Output column (for tabs and erasing).
    column: u32,
    /// Column where the line being edited started.
    canon_column: u32,
    /// Output for the master to read (slave writes and echoes).
    out: VecDeque<u8>,
    /// Output stopped (VSTOP with IXON, or TCOOFF).
    stopped: bool,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDiscipline {
    pub fn new() -> LineDiscipline {
        LineDiscipline {
            termios: Termios::slave_default(),
            buf: VecDeque::new(),
            read_tail: 0,
            canon_head: 0,
            line_ends: VecDeque::new(),
            lnext: false,
            column: 0,
            canon_column: 0,
            out: VecDeque::new(),
            stopped: false,
        }
    }

    pub fn termios(&self) -> Termios {
        self.termios
    }

    fn canon(&self) -> bool {
        self.termios.l(libc::ICANON)
    }

    fn head(&self) -> u64 {
        self.read_tail + self.buf.len() as u64
    }

    /// TCSETS: switching ICANON makes pending input one completed line
    /// (to canonical) or all readable (to raw), as Linux does.
    pub fn set_termios(&mut self, t: Termios) {
        let old = self.termios;
        self.termios = t;
        if (old.lflag ^ t.lflag) & libc::ICANON != 0 {
            self.line_ends.clear();
            self.lnext = false;
            if self.canon() && !self.buf.is_empty() {
                self.line_ends.push_back((self.head(), false));
                self.canon_head = self.head();
            } else {
                self.canon_head = self.read_tail;
            }
        }
        if !t.i(libc::IXON) && self.stopped {
            self.stopped = false;
        }
    }

    /// Discard unread input (TCIFLUSH, signal characters).
    pub fn flush_input(&mut self) {
        self.read_tail = self.head();
        self.buf.clear();
        self.line_ends.clear();
        self.canon_head = self.read_tail;
        self.lnext = false;
    }

    /// Discard output the master has not read (TCOFLUSH).
    pub fn flush_output(&mut self) {
        self.out.clear();
    }

    /// TCOOFF / TCOON.
    pub fn set_stopped(&mut self, stopped: bool) {
        self.stopped = stopped;
    }

    // ---- input (master → slave) ----

    /// Whether the master may write now (no room means it waits).
    pub fn input_room(&self) -> bool {
        if self.buf.len() < INPUT_CAP {
            return true;
        }
        // A full canonical buffer without a complete line discards
        // characters instead of waiting for a reader that cannot read.
        self.canon() && self.line_ends.is_empty()
    }

    /// Process bytes the master wrote: returns how many were taken (stops
    /// when the input buffer is full). Signal characters are appended to
    /// `sigs`.
    pub fn receive(&mut self, data: &[u8], sigs: &mut Vec<i32>) -> usize {
        let mut n = 0;
        for &c in data {
            if !self.input_room() {
                break;
            }
            self.receive_char(c, sigs);
            n += 1;
        }
        n
    }

    fn is_special(&self, c: u8) -> bool {
        if c == 0 {
            return false;
        }
        let t = &self.termios;
        if c == b'\r' && (t.i(libc::IGNCR) || t.i(libc::ICRNL)) {
            return true;
        }
        if c == b'\n' && t.i(libc::INLCR) {
            return true;
        }
        if t.l(libc::ICANON) {
            if [t.c(libc::VERASE), t.c(libc::VKILL), t.c(libc::VEOF), b'\n', t.c(libc::VEOL)].contains(&c) {
                return true;
            }
            if t.l(libc::IEXTEN) {
                if [t.c(libc::VWERASE), t.c(libc::VLNEXT), t.c(libc::VEOL2)].contains(&c) {
                    return true;
                }
                if t.l(libc::ECHO) && c == t.c(libc::VREPRINT) {
                    return true;
                }
            }
        }
        if t.i(libc::IXON) && (c == t.c(libc::VSTART) || c == t.c(libc::VSTOP)) {
            return true;
        }
        t.l(libc::ISIG) && [t.c(libc::VINTR), t.c(libc::VQUIT), t.c(libc::VSUSP)].contains(&c)
    }

    fn receive_char(&mut self, c: u8, sigs: &mut Vec<i32>) {
        let t = self.termios;
        let mut c = c;
        if t.i(libc::ISTRIP) {
            c &= 0x7f;
        }
        if t.i(libc::IUCLC) && t.l(libc::IEXTEN) {
            c = c.to_ascii_lowercase();
        }
        if self.lnext {
            self.lnext = false;
            self.receive_plain(c);
            return;
        }
        if self.is_special(c) {
            self.receive_special(c, sigs);
        } else {
            self.receive_plain(c);
        }
    }

    fn restart_on_any(&mut self) {
        let t = &self.termios;
        if self.stopped && t.i(libc::IXON) && t.i(libc::IXANY) {
            self.stopped = false;
        }
    }

    fn receive_plain(&mut self, c: u8) {
        self.restart_on_any();
        if self.termios.l(libc::ECHO) {
            if self.head() == self.canon_head {
                self.canon_column = self.column;
            }
            self.echo_char(c);
        }
        self.put(c);
    }

    fn put(&mut self, c: u8) {
        if self.canon() && self.buf.len() >= INPUT_CAP - 1 {
            // Line too long: drop (Linux keeps room for the newline).
            return;
        }
        self.buf.push_back(c);
    }

    fn end_line(&mut self, c: Option<u8>) {
        if let Some(c) = c {
            self.buf.push_back(c);
        }
        let h = self.head();
        self.line_ends.push_back((h, c.is_none()));
        self.canon_head = h;
    }

    fn receive_special(&mut self, mut c: u8, sigs: &mut Vec<i32>) {
        let t = self.termios;
        if t.i(libc::IXON) && (c == t.c(libc::VSTART) || c == t.c(libc::VSTOP)) {
            self.stopped = c != t.c(libc::VSTART);
            return;
        }
        if t.l(libc::ISIG) {
            for (idx, sig) in [(libc::VINTR, libc::SIGINT), (libc::VQUIT, libc::SIGQUIT), (libc::VSUSP, libc::SIGTSTP)] {
                if c == t.c(idx) {
                    sigs.push(sig);
                    // Only the input: a pty's output already written stays
                    // for the master (Linux's pty_flush_buffer drops none).
                    if !t.l(libc::NOFLSH) {
                        self.flush_input();
                    }
                    if t.i(libc::IXON) {
                        self.stopped = false;
                    }
                    if t.l(libc::ECHO) {
                        self.echo_char(c);
                    }
                    return;
                }
            }
        }
        self.restart_on_any();
        if c == b'\r' {
            if t.i(libc::IGNCR) {
                return;
            }
            if t.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(libc::INLCR) {
            c = b'\r';
        }
        if t.l(libc::ICANON) {
            let iext = t.l(libc::IEXTEN);
            if c == t.c(libc::VERASE) || c == t.c(libc::VKILL) || (iext && c == t.c(libc::VWERASE)) {
                self.erase(c);
                return;
            }
            if iext && c == t.c(libc::VLNEXT) {
                self.lnext = true;
                if t.l(libc::ECHO) && t.l(libc::ECHOCTL) {
                    self.echo_bytes(b"^\x08");
                }
                return;
            }
            if iext && t.l(libc::ECHO) && c == t.c(libc::VREPRINT) {
                self.echo_char(c);
                self.echo_raw(b'\n');
                let start = (self.canon_head - self.read_tail) as usize;
                let line: Vec<u8> = self.buf.iter().skip(start).copied().collect();
                for b in line {
                    self.echo_char(b);
                }
                return;
            }
            if c == b'\n' {
                if t.l(libc::ECHO) || t.l(libc::ECHONL) {
                    self.echo_raw(b'\n');
                }
                self.end_line(Some(c));
                return;
            }
            if c == t.c(libc::VEOF) {
                self.end_line(None);
                return;
            }
            if c == t.c(libc::VEOL) || (iext && c == t.c(libc::VEOL2)) {
                if t.l(libc::ECHO) {
                    if self.head() == self.canon_head {
                        self.canon_column = self.column;
                    }
                    self.echo_char(c);
                }
                self.end_line(Some(c));
                return;
            }
        }
        if t.l(libc::ECHO) {
            if c == b'\n' {
                self.echo_raw(b'\n');
            } else {
                if self.head() == self.canon_head {
                    self.canon_column = self.column;
                }
                self.echo_char(c);
            }
        }
        self.put(c);
    }

    /// VERASE, VWERASE, VKILL on the line being edited.
    fn erase(&mut self, c: u8) {
        let t = self.termios;
        if self.head() == self.canon_head {
            return;
        }
        #[derive(PartialEq)]
        enum Kind {
            Erase,
            Word,
            Kill,
        }
        let kind = if c == t.c(libc::VERASE) {
            Kind::Erase
        } else if c == t.c(libc::VWERASE) {
            Kind::Word
        } else {
            Kind::Kill
        };
        if kind == Kind::Kill {
            if !t.l(libc::ECHO) {
                self.truncate_line();
                return;
            }
            if !(t.l(libc::ECHOK) && t.l(libc::ECHOKE) && t.l(libc::ECHOE)) {
                self.truncate_line();
                self.echo_char(c);
                if t.l(libc::ECHOK) {
                    self.echo_raw(b'\n');
                }
                return;
            }
        }
        let mut seen_alnum = false;
        while self.head() > self.canon_head {
            let Some(&ch) = self.buf.back() else { break };
            if kind == Kind::Word {
                if ch.is_ascii_alphanumeric() || ch == b'_' {
                    seen_alnum = true;
                } else if seen_alnum {
                    break;
                }
            }
            self.buf.pop_back();
            if t.l(libc::ECHO) {
                if kind == Kind::Erase && !t.l(libc::ECHOE) {
                    self.echo_char(t.c(libc::VERASE));
                } else if ch == b'\t' {
                    self.erase_tab();
                } else {
                    let ctl = is_cntrl(ch);
                    if ctl && t.l(libc::ECHOCTL) {
                        self.rub_out();
                    }
                    if !ctl || t.l(libc::ECHOCTL) {
                        self.rub_out();
                    }
                }
            }
            if kind == Kind::Erase {
                break;
            }
        }
    }

    fn truncate_line(&mut self) {
        let keep = (self.canon_head - self.read_tail) as usize;
        self.buf.truncate(keep);
    }

    /// "\b \b": erase one column on the terminal.
    fn rub_out(&mut self) {
        self.push_out(b"\x08 \x08");
        self.column = self.column.saturating_sub(1);
    }

    /// Back up to where the tab just erased started.
    fn erase_tab(&mut self) {
        let start = (self.canon_head - self.read_tail) as usize;
        let echoctl = self.termios.l(libc::ECHOCTL);
        let mut col = self.canon_column;
        for &b in self.buf.iter().skip(start) {
            if b == b'\t' {
                col = (col | 7) + 1;
            } else if is_cntrl(b) {
                if echoctl {
                    col += 2;
                }
            } else {
                col += 1;
            }
        }
        while self.column > col {
            self.push_out(b"\x08");
            self.column -= 1;
        }
    }

    // ---- echo and output ----

    fn push_out(&mut self, b: &[u8]) {
        self.out.extend(b);
    }

    fn echo_room(&self) -> bool {
        self.out.len() < OUTPUT_CAP + ECHO_SLACK
    }

    /// Echo a character: "^X" for controls with ECHOCTL.
    fn echo_char(&mut self, c: u8) {
        if !self.echo_room() {
            return;
        }
        if self.termios.l(libc::ECHOCTL) && is_cntrl(c) && c != b'\t' {
            self.push_out(&[b'^', c ^ 0o100]);
            self.column += 2;
        } else {
            self.output_char(c);
        }
    }

    fn echo_raw(&mut self, c: u8) {
        if self.echo_room() {
            self.output_char(c);
        }
    }

    fn echo_bytes(&mut self, b: &[u8]) {
        if self.echo_room() {
            self.push_out(b);
        }
    }

    /// One byte through output processing.
    fn output_char(&mut self, c: u8) {
        let t = self.termios;
        if !t.o(libc::OPOST) {
            self.out.push_back(c);
            return;
        }
        match c {
            b'\n' => {
                if t.o(libc::ONLRET) {
                    self.column = 0;
                }
                if t.o(libc::ONLCR) {
                    self.column = 0;
                    self.canon_column = 0;
                    self.push_out(b"\r\n");
                    return;
                }
                self.canon_column = self.column;
                self.out.push_back(c);
            }
            b'\r' => {
                if t.o(libc::ONOCR) && self.column == 0 {
                    return;
                }
                if t.o(libc::OCRNL) {
                    if t.o(libc::ONLRET) {
                        self.column = 0;
                        self.canon_column = 0;
                    }
                    self.out.push_back(b'\n');
                    return;
                }
                self.column = 0;
                self.canon_column = 0;
                self.out.push_back(c);
            }
            b'\t' => {
                let spaces = 8 - (self.column % 8);
                self.column += spaces;
                if t.oflag & libc::TABDLY == libc::TAB3 {
                    for _ in 0..spaces {
                        self.out.push_back(b' ');
                    }
                } else {
                    self.out.push_back(c);
                }
            }
            0x08 => {
                self.column = self.column.saturating_sub(1);
                self.out.push_back(c);
            }
            _ => {
                let mut c = c;
                if !is_cntrl(c) {
                    if t.o(libc::OLCUC) {
                        c = c.to_ascii_uppercase();
                    }
                    // UTF-8 continuation bytes take no column.
                    if c & 0xc0 != 0x80 {
                        self.column += 1;
                    }
                }
                self.out.push_back(c);
            }
        }
    }

    /// Whether a slave write would take bytes now.
    pub fn output_room(&self) -> bool {
        !self.stopped && self.out.len() < OUTPUT_CAP
    }

    /// The slave writes: output processing into the master's read side.
    /// Returns the bytes taken (0 when full or stopped).
    pub fn write_output(&mut self, data: &[u8]) -> usize {
        let mut n = 0;
        for &c in data {
            if !self.output_room() {
                break;
            }
            self.output_char(c);
            n += 1;
        }
        n
    }

    /// The master reads.
    pub fn read_output(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.out.len());
        for (dst, b) in buf.iter_mut().zip(self.out.drain(..n)) {
            *dst = b;
        }
        n
    }

    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    // ---- the slave reads ----

    /// Poll readiness of the slave's read side.
    pub fn readable(&self) -> bool {
        if self.canon() {
            return !self.line_ends.is_empty();
        }
        let (vmin, vtime) = (self.termios.c(libc::VMIN) as usize, self.termios.c(libc::VTIME));
        let need = if vtime == 0 && vmin > 0 { vmin } else { 1 };
        self.buf.len() >= need
    }

    /// FIONREAD on the slave: complete lines in canonical mode, else all.
    pub fn input_available(&self) -> usize {
        if self.canon() {
            self.line_ends.back().map(|(end, _)| (end - self.read_tail) as usize).unwrap_or(0)
        } else {
            self.buf.len()
        }
    }

    /// The slave reads: None means "would block" (EAGAIN); Some(0) is end
    /// of file (VEOF on an empty line) or VMIN = 0 with nothing there.
    pub fn read(&mut self, out: &mut [u8]) -> Option<usize> {
        if out.is_empty() {
            return Some(0);
        }
        if self.canon() {
            let &(end, _) = self.line_ends.front()?;
            let avail = (end - self.read_tail) as usize;
            let n = self.take(out, avail);
            if self.read_tail == end {
                self.line_ends.pop_front();
            }
            return Some(n);
        }
        let (vmin, vtime) = (self.termios.c(libc::VMIN) as usize, self.termios.c(libc::VTIME));
        let need = match (vmin, vtime) {
            (0, _) => 0,
            (_, 0) => vmin.min(out.len()),
            _ => 1,
        };
        if self.buf.len() < need || (need > 0 && self.buf.is_empty()) {
            return None;
        }
        let avail = self.buf.len();
        Some(self.take(out, avail))
    }

    fn take(&mut self, out: &mut [u8], avail: usize) -> usize {
        let n = out.len().min(avail);
        for (dst, b) in out.iter_mut().zip(self.buf.drain(..n)) {
            *dst = b;
        }
        self.read_tail += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld() -> LineDiscipline {
        LineDiscipline::new()
    }

    fn feed(l: &mut LineDiscipline, s: &[u8]) -> Vec<i32> {
        let mut sigs = vec![];
        assert_eq!(l.receive(s, &mut sigs), s.len());
        sigs
    }

    fn out(l: &mut LineDiscipline) -> Vec<u8> {
        let mut b = vec![0u8; 1 << 17];
        let n = l.read_output(&mut b);
        b.truncate(n);
        b
    }

    fn rd(l: &mut LineDiscipline, n: usize) -> Option<Vec<u8>> {
        let mut b = vec![0u8; n];
        l.read(&mut b).map(|k| b[..k].to_vec())
    }

    fn set(l: &mut LineDiscipline, f: impl FnOnce(&mut Termios)) {
        let mut t = l.termios();
        f(&mut t);
        l.set_termios(t);
    }

    #[test]
    fn termios_bytes_roundtrip() {
        let t = Termios::slave_default();
        assert_eq!(Termios::from_bytes(&t.to_bytes()), t);
        assert_eq!(t.to_bytes()[17 + libc::VERASE], 0o177);
    }

    #[test]
    fn canonical_lines_and_echo() {
        let mut l = ld();
        feed(&mut l, b"hel");
        assert_eq!(out(&mut l), b"hel");
        assert!(!l.readable());
        assert_eq!(rd(&mut l, 64), None);
        feed(&mut l, b"lo\r");
        assert_eq!(out(&mut l), b"lo\r\n");
        assert!(l.readable());
        assert_eq!(l.input_available(), 6);
        // A short read leaves the rest of the line.
        assert_eq!(rd(&mut l, 2).unwrap(), b"he");
        assert_eq!(rd(&mut l, 64).unwrap(), b"llo\n");
        assert_eq!(rd(&mut l, 64), None);
        // Two lines come back one per read.
        feed(&mut l, b"a\nb\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"a\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"b\n");
    }

    #[test]
    fn erase_kill_werase() {
        let mut l = ld();
        feed(&mut l, b"abx\x7fc\n");
        assert_eq!(out(&mut l), b"abx\x08 \x08c\r\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"abc\n");
        feed(&mut l, b"zzz\x15ok\n");
        assert_eq!(out(&mut l), b"zzz\x08 \x08\x08 \x08\x08 \x08ok\r\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"ok\n");
        feed(&mut l, b"one two\x17\x17x\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"x\n");
        // Erase never crosses a completed line.
        feed(&mut l, b"q\n\x7f\x7fr\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"q\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"r\n");
        // Without ECHOE the erase character itself is echoed; ECHOK
        // without ECHOKE echoes the kill character and a newline.
        out(&mut l);
        set(&mut l, |t| t.lflag &= !(libc::ECHOE | libc::ECHOKE));
        feed(&mut l, b"ab\x7f\x15");
        assert_eq!(out(&mut l), b"ab^?^U\r\n");
        // A control character echoed as ^X takes two rub-outs.
        set(&mut l, |t| t.lflag |= libc::ECHOE);
        feed(&mut l, b"\x01\x7f");
        assert_eq!(out(&mut l), b"^A\x08 \x08\x08 \x08");
    }

    #[test]
    fn eof_char() {
        let mut l = ld();
        feed(&mut l, b"abc\x04");
        assert_eq!(out(&mut l), b"abc");
        assert_eq!(rd(&mut l, 64).unwrap(), b"abc");
        feed(&mut l, b"\x04");
        assert_eq!(rd(&mut l, 64).unwrap(), b"");
        assert_eq!(rd(&mut l, 64), None);
    }

    #[test]
    fn raw_mode_vmin() {
        let mut l = ld();
        set(&mut l, |t| t.lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN));
        feed(&mut l, b"x");
        assert!(l.readable());
        assert_eq!(rd(&mut l, 8).unwrap(), b"x");
        assert_eq!(out(&mut l), b"");
        feed(&mut l, b"\x7f\x03\x15");
        assert_eq!(rd(&mut l, 8).unwrap(), b"\x7f\x03\x15");
        set(&mut l, |t| t.cc[libc::VMIN] = 3);
        feed(&mut l, b"ab");
        assert!(!l.readable());
        assert_eq!(rd(&mut l, 8), None);
        // A buffer smaller than VMIN is satisfied by what fits.
        assert_eq!(rd(&mut l, 2).unwrap(), b"ab");
        feed(&mut l, b"abc");
        assert_eq!(rd(&mut l, 8).unwrap(), b"abc");
        set(&mut l, |t| t.cc[libc::VMIN] = 0);
        assert_eq!(rd(&mut l, 8).unwrap(), b"");
        // Switching to canonical makes pending input one line.
        feed(&mut l, b"pending");
        set(&mut l, |t| t.lflag |= libc::ICANON);
        assert_eq!(rd(&mut l, 64).unwrap(), b"pending");
    }

    #[test]
    fn input_flags() {
        let mut l = ld();
        set(&mut l, |t| t.lflag &= !libc::ECHO);
        // ICRNL (default).
        feed(&mut l, b"a\r");
        assert_eq!(rd(&mut l, 8).unwrap(), b"a\n");
        set(&mut l, |t| t.iflag |= libc::IGNCR);
        feed(&mut l, b"b\r\n");
        assert_eq!(rd(&mut l, 8).unwrap(), b"b\n");
        set(&mut l, |t| {
            t.iflag = libc::INLCR | libc::ISTRIP;
            t.lflag &= !libc::ICANON;
        });
        feed(&mut l, b"\n\xe1");
        assert_eq!(rd(&mut l, 8).unwrap(), b"\ra");
    }

    #[test]
    fn echo_flags() {
        let mut l = ld();
        // ECHONL without ECHO.
        set(&mut l, |t| t.lflag = (t.lflag & !libc::ECHO) | libc::ECHONL);
        feed(&mut l, b"ab\n");
        assert_eq!(out(&mut l), b"\r\n");
        // ECHOCTL: control characters as ^X; raw mode echo.
        set(&mut l, |t| t.lflag = (t.lflag | libc::ECHO) & !libc::ICANON);
        feed(&mut l, b"\x01z");
        assert_eq!(out(&mut l), b"^Az");
        set(&mut l, |t| t.lflag &= !libc::ECHOCTL);
        feed(&mut l, b"\x01");
        assert_eq!(out(&mut l), b"\x01");
    }

    #[test]
    fn signals_flush_and_echo() {
        let mut l = ld();
        feed(&mut l, b"partial");
        assert_eq!(feed(&mut l, b"\x03"), vec![libc::SIGINT]);
        // The input line is gone; output not yet read stays.
        assert_eq!(out(&mut l), b"partial^C");
        feed(&mut l, b"\n");
        assert_eq!(rd(&mut l, 64).unwrap(), b"\n");
        assert_eq!(feed(&mut l, b"\x1c\x1a"), vec![libc::SIGQUIT, libc::SIGTSTP]);
        set(&mut l, |t| t.lflag &= !libc::ISIG);
        assert_eq!(feed(&mut l, b"\x03"), Vec::<i32>::new());
    }

    #[test]
    fn output_processing() {
        let mut l = ld();
        assert_eq!(l.write_output(b"a\nb\n"), 4);
        assert_eq!(out(&mut l), b"a\r\nb\r\n");
        set(&mut l, |t| t.oflag |= libc::TAB3);
        l.write_output(b"ab\tc");
        assert_eq!(out(&mut l), b"ab      c");
        set(&mut l, |t| t.oflag = libc::OPOST | libc::OCRNL | libc::OLCUC);
        l.write_output(b"x\r");
        assert_eq!(out(&mut l), b"X\n");
        set(&mut l, |t| t.oflag &= !libc::OPOST);
        l.write_output(b"c\n");
        assert_eq!(out(&mut l), b"c\n");
    }

    #[test]
    fn flow_control_and_limits() {
        let mut l = ld();
        feed(&mut l, b"\x13");
        assert!(!l.output_room());
        assert_eq!(l.write_output(b"x"), 0);
        feed(&mut l, b"\x11");
        assert_eq!(l.write_output(b"x"), 1);
        // The output side fills up.
        let big = vec![b'y'; OUTPUT_CAP + 10];
        let n = l.write_output(&big);
        assert!(n < big.len());
        assert!(!l.output_room());
        // Raw input stops at the buffer size.
        let mut l = ld();
        set(&mut l, |t| t.lflag &= !(libc::ICANON | libc::ECHO));
        let mut sigs = vec![];
        assert_eq!(l.receive(&vec![b'z'; INPUT_CAP + 5], &mut sigs), INPUT_CAP);
        assert!(!l.input_room());
        // A canonical line that is too long is truncated, never blocks.
        let mut l = ld();
        set(&mut l, |t| t.lflag &= !libc::ECHO);
        assert_eq!(l.receive(&vec![b'w'; INPUT_CAP + 5], &mut sigs), INPUT_CAP + 5);
        feed(&mut l, b"\n");
        assert_eq!(rd(&mut l, 2 * INPUT_CAP).unwrap().len(), INPUT_CAP);
    }
}
