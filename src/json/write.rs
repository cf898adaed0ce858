//! JSON text primitives: strings, numbers as protojson prints them, base64.

/// Bytes of a JSON string that need an escape: `"`, `\` and the control characters.
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// `s` as a JSON string, quoted.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !ESCAPE[usize::from(b)] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// An integer as a JSON number.
pub(super) fn int(out: &mut Vec<u8>, n: impl itoa_like::Int) {
    n.write(out);
}

/// An integer as a JSON string (protojson's 64-bit integers).
pub(super) fn quoted_int(out: &mut Vec<u8>, n: impl itoa_like::Int) {
    out.push(b'"');
    n.write(out);
    out.push(b'"');
}

/// Integer formatting without allocation.
pub(super) mod itoa_like {
    /// An integer that can be written in decimal.
    pub(in crate::json) trait Int: Copy {
        fn write(self, out: &mut Vec<u8>);
    }

    fn unsigned(out: &mut Vec<u8>, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            // n % 10 < 10: the cast cannot truncate.
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&buf[i..]);
    }

    impl Int for u64 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(out, self);
        }
    }
    impl Int for u32 {
        fn write(self, out: &mut Vec<u8>) {
            unsigned(out, u64::from(self));
        }
    }
    impl Int for i64 {
        fn write(self, out: &mut Vec<u8>) {
            if self < 0 {
                out.push(b'-');
            }
            unsigned(out, self.unsigned_abs());
        }
    }
    impl Int for i32 {
        fn write(self, out: &mut Vec<u8>) {
            i64::from(self).write(out);
        }
    }
}

/// A double as Go's protojson prints it: the shortest representation that round-trips,
/// exponent form below 1e-6 and from 1e21; NaN and the infinities as strings.
pub(super) fn double(out: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        let abs = v.abs();
        // Writing to a Vec cannot fail.
        let _ = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
    }
}

/// A float as Go's protojson prints it (shortest for 32 bits; see [`double`]).
pub(super) fn float(out: &mut Vec<u8>, v: f32) {
    use std::io::Write;
    if v.is_nan() || v.is_infinite() {
        double(out, f64::from(v));
    } else {
        let abs = v.abs();
        let _ = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
    }
}

/// Bytes as a JSON string of standard, padded base64.
pub(super) fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    use base64::Engine;
    out.push(b'"');
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + n);
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_what_json_needs() {
        assert_eq!(s(|o| string(o, "a\"b\\c\n\u{1}é")), r#""a\"b\\c\n\u0001é""#);
        let v: String =
            serde_json::from_str(&s(|o| string(o, "\u{7}\u{1f}\t\r\u{8}\u{c}/"))).unwrap();
        assert_eq!(v, "\u{7}\u{1f}\t\r\u{8}\u{c}/");
    }

    #[test]
    fn numbers_print_as_protojson() {
        assert_eq!(s(|o| int(o, i32::MIN)), "-2147483648");
        assert_eq!(s(|o| quoted_int(o, u64::MAX)), "\"18446744073709551615\"");
        assert_eq!(s(|o| quoted_int(o, i64::MIN)), "\"-9223372036854775808\"");
        assert_eq!(s(|o| double(o, 55.0)), "55");
        assert_eq!(s(|o| double(o, 0.1)), "0.1");
        assert_eq!(s(|o| double(o, 1e21)), "1e21");
        assert_eq!(s(|o| double(o, 1.5e-7)), "1.5e-7");
        assert_eq!(s(|o| double(o, f64::NAN)), "\"NaN\"");
        assert_eq!(s(|o| double(o, f64::NEG_INFINITY)), "\"-Infinity\"");
        assert_eq!(s(|o| float(o, 0.1)), "0.1");
        assert_eq!(s(|o| base64(o, b"hello")), "\"aGVsbG8=\"");
        assert_eq!(s(|o| base64(o, b"")), "\"\"");
    }
}
