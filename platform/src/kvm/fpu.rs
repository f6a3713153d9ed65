//! FXSAVE layout ([`FpState`]) ⇄ `kvm_fpu`.

use kvm_bindings::{kvm_fpu, kvm_xsave};

use crate::FpState;

/// MXCSR_MASK reported in the FXSAVE image (`kvm_fpu` does not carry it):
/// every bit including DAZ is writable on any CPU KVM runs on.
pub const MXCSR_MASK: u32 = 0xffff;

pub fn to_fxsave(f: &kvm_fpu) -> FpState {
    let mut s = FpState([0; 512]);
    let b = &mut s.0;
    b[0..2].copy_from_slice(&f.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&f.fsw.to_le_bytes());
    b[4] = f.ftwx;
    b[6..8].copy_from_slice(&f.last_opcode.to_le_bytes());
    b[8..16].copy_from_slice(&f.last_ip.to_le_bytes());
    b[16..24].copy_from_slice(&f.last_dp.to_le_bytes());
    b[24..28].copy_from_slice(&f.mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
    for (i, r) in f.fpr.iter().enumerate() {
        b[32 + 16 * i..48 + 16 * i].copy_from_slice(r);
    }
    for (i, r) in f.xmm.iter().enumerate() {
        b[160 + 16 * i..176 + 16 * i].copy_from_slice(r);
    }
    s
}

/// The legacy region of a standard-format XSAVE image is the FXSAVE image.
/// (KVM_GET/SET_FPU do not carry MXCSR on every KVM implementation; the
/// XSAVE calls do.)
pub fn from_xsave(x: &kvm_xsave) -> FpState {
    let mut s = FpState([0; 512]);
    for (i, w) in x.region[..128].iter().enumerate() {
        s.0[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    s
}

/// Put `s` in the legacy region of `x` and mark x87 and SSE state as
/// present in XSTATE_BV (other components keep their state).
pub fn into_xsave(s: &FpState, x: &mut kvm_xsave) {
    for (i, w) in x.region[..128].iter_mut().enumerate() {
        *w = u32::from_le_bytes(s.0[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    }
    // MXCSR: reserved bits set would make KVM refuse the state.
    x.region[6] &= MXCSR_MASK;
    x.region[7] = MXCSR_MASK;
    x.region[128] |= 3; // XSTATE_BV (low word) at byte 512
}

pub fn from_fxsave(s: &FpState) -> kvm_fpu {
    let b = &s.0;
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let mut f = kvm_fpu {
        fcw: u16_at(0),
        fsw: u16_at(2),
        ftwx: b[4],
        last_opcode: u16_at(6),
        last_ip: u64_at(8),
        last_dp: u64_at(16),
        // Reserved MXCSR bits would make the vCPU's FXRSTOR fault.
        mxcsr: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")) & MXCSR_MASK,
        ..Default::default()
    };
    for (i, r) in f.fpr.iter_mut().enumerate() {
        r.copy_from_slice(&b[32 + 16 * i..48 + 16 * i]);
    }
    for (i, r) in f.xmm.iter_mut().enumerate() {
        r.copy_from_slice(&b[160 + 16 * i..176 + 16 * i]);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = FpState::default();
        for (i, x) in s.0[32..416].iter_mut().enumerate() {
            *x = i as u8;
        }
        s.0[2] = 0x41;
        s.0[4] = 0x80;
        s.0[8] = 0x99;
        s.0[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
        let f = from_fxsave(&s);
        assert_eq!((f.fcw, f.mxcsr, f.fsw, f.ftwx, f.last_ip), (0x37f, 0x1f80, 0x41, 0x80, 0x99));
        assert_eq!(f.xmm[0][0], 128);
        assert_eq!(f.fpr[1][0], 16);
        assert_eq!(to_fxsave(&f).0, s.0);
        let mut x = kvm_xsave::default();
        x.region[128] = 0x4; // AVX state present: kept
        into_xsave(&s, &mut x);
        assert_eq!(x.region[128], 0x7);
        assert_eq!(x.region[6], 0x1f80);
        assert_eq!(from_xsave(&x).0, s.0);
    }
}
