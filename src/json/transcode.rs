//! Protobuf wire bytes straight to protojson text, driven by [`Tables`].
//!
//! A message is read in two steps: its fields are scanned into occurrences (number, wire
//! type, value or span), then written in declaration order, each field once: repeated
//! values gathered even when not contiguous on the wire, the last value of a singular
//! scalar, the merge of every occurrence of a singular message, the last member of a
//! oneof, map entries by key (last wins, sorted as Go sorts them). What Go's protojson
//! omits (proto3 defaults) is left out; unknown fields are skipped.

use std::borrow::Cow;

use prost::Message;

use super::tables::{Enum, Msg, Shape, Tables, Ty, Wkt};
use super::write;

/// Why bytes did not transcode.
pub(super) type Bad = Cow<'static, str>;
type R<T> = std::result::Result<T, Bad>;

/// Nesting deeper than this is refused (prost's own recursion limit).
const MAX_DEPTH: u32 = 100;

/// One field occurrence of the message being written.
#[derive(Clone, Copy, Debug)]
struct Occ {
    /// Index of the field in its message's table.
    field: u32,
    /// Position among the message's occurrences.
    pos: u32,
    wire: u8,
    /// Varint or fixed value; for length-delimited values, the start of the span.
    val: u64,
    /// End of the span (length-delimited values only).
    end: u32,
}

impl Occ {
    fn span<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        // Spans were checked against `buf` when scanned.
        buf.get(self.val as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// A wire reader over one message's bytes.
struct Wire<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> Wire<'b> {
    fn new(buf: &'b [u8]) -> Self {
        Wire { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn varint(&mut self) -> R<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("invalid varint".into());
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err("invalid varint".into());
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("invalid varint".into())
    }

    fn take(&mut self, n: usize) -> R<&'b [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or("buffer underflow")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn fixed32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fixed64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A field key: (number, wire type).
    #[inline]
    fn key(&mut self) -> R<(u32, u8)> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| Bad::from("invalid key value"))?;
        let wire = (key & 7) as u8;
        if wire > 5 {
            return Err(format!("invalid wire type value: {wire}").into());
        }
        let number = key >> 3;
        if number == 0 {
            return Err("invalid tag value: 0".into());
        }
        Ok((number, wire))
    }

    /// A length-delimited value's span (start, end) within the buffer.
    fn len_span(&mut self) -> R<(usize, usize)> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| Bad::from("buffer underflow"))?;
        let start = self.pos;
        self.take(len)?;
        Ok((start, self.pos))
    }

    /// Skips a value of an unknown field (groups included, to their end tag).
    fn skip(&mut self, number: u32, wire: u8, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err("recursion limit reached".into());
        }
        match wire {
            0 => {
                self.varint()?;
            }
            1 => {
                self.take(8)?;
            }
            5 => {
                self.take(4)?;
            }
            2 => {
                self.len_span()?;
            }
            3 => loop {
                let (n, w) = self.key()?;
                if w == 4 {
                    if n != number {
                        return Err("unexpected end group tag".into());
                    }
                    break;
                }
                self.skip(n, w, depth + 1)?;
            },
            _ => return Err("unexpected end group tag".into()),
        }
        Ok(())
    }
}

/// The state of one oneof while a message is scanned: the member that last appeared and
/// the position from which its occurrences count (an earlier run of it was cleared by
/// another member).
#[derive(Clone, Copy)]
struct OneofState {
    winner: u32,
    since: u32,
}

/// A transcoder: the tables and reusable scratch space.
pub(super) struct Transcoder<'t> {
    t: &'t Tables,
    occs: Vec<Occ>,
    oneofs: Vec<OneofState>,
}

impl<'t> Transcoder<'t> {
    pub(super) fn new(t: &'t Tables) -> Self {
        Transcoder {
            t,
            occs: Vec::new(),
            oneofs: Vec::new(),
        }
    }

    /// Appends the JSON of message `m` encoded as `buf` to `out`.
    pub(super) fn message(&mut self, m: u32, buf: &[u8], out: &mut Vec<u8>, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err("recursion limit reached".into());
        }
        let msg = self.msg(m)?;
        if msg.fallback {
            return fallback(&msg.full_name, buf, out);
        }
        if let Some(w) = msg.wkt {
            return self.wkt(w, m, buf, out, depth);
        }
        out.push(b'{');
        self.fields(m, buf, out, depth, true)?;
        out.push(b'}');
        Ok(())
    }

    fn msg(&self, m: u32) -> R<&'t Msg> {
        self.t
            .messages
            .get(m as usize)
            .ok_or_else(|| Bad::from("unknown message"))
    }

    fn enum_(&self, e: u32) -> R<&'t Enum> {
        self.t
            .enums
            .get(e as usize)
            .ok_or_else(|| Bad::from("unknown enum"))
    }

    /// Scans `buf` as message `msg`, pushing its known fields' occurrences (and the
    /// message's oneof states) after those of the enclosing messages.
    fn scan(&mut self, msg: &Msg, buf: &[u8], depth: u32) -> R<()> {
        let oneof_base = self.oneofs.len();
        self.oneofs.resize(
            oneof_base + msg.oneofs,
            OneofState {
                winner: u32::MAX,
                since: 0,
            },
        );
        let mut w = Wire::new(buf);
        let mut pos = 0u32;
        while !w.done() {
            let (number, wire) = w.key()?;
            let Some(fi) = msg.field(number) else {
                w.skip(number, wire, depth)?;
                continue;
            };
            let f = &msg.fields[fi];
            let expected = match f.shape {
                Shape::Map { .. } => 2,
                Shape::Repeated if wire == 2 && f.ty.packable() => 2,
                _ => f.ty.wire_type(),
            };
            if wire != expected {
                return Err(format!(
                    "invalid wire type {wire} for field {number} of {} (expected {expected})",
                    msg.full_name
                )
                .into());
            }
            let (val, end) = match wire {
                0 => (w.varint()?, 0),
                1 => (w.fixed64()?, 0),
                5 => (u64::from(w.fixed32()?), 0),
                _ => {
                    let (s, e) = w.len_span()?;
                    let end = u32::try_from(e).map_err(|_| Bad::from("message too large"))?;
                    (s as u64, end)
                }
            };
            let field = fi as u32;
            if let Some(o) = f.oneof {
                let st = &mut self.oneofs[oneof_base + usize::from(o)];
                if st.winner != field {
                    *st = OneofState {
                        winner: field,
                        since: pos,
                    };
                }
            }
            self.occs.push(Occ {
                field,
                pos,
                wire,
                val,
                end,
            });
            pos = pos.checked_add(1).ok_or("too many fields")?;
        }
        Ok(())
    }

    /// Writes the fields of message `m` encoded as `buf` as `"name":value` pairs, a comma
    /// before each unless `first` and nothing written yet. Returns whether one was written.
    fn fields(
        &mut self,
        m: u32,
        buf: &[u8],
        out: &mut Vec<u8>,
        depth: u32,
        first: bool,
    ) -> R<bool> {
        let mut first = first;
        let msg = self.msg(m)?;
        let base = self.occs.len();
        let oneof_base = self.oneofs.len();
        let result = self.fields_scanned(msg, buf, out, depth, &mut first, base, oneof_base);
        self.occs.truncate(base);
        self.oneofs.truncate(oneof_base);
        result
    }

    /// [`Transcoder::fields`] once its stacks' bases are known (they are truncated back
    /// whatever happens).
    #[allow(clippy::too_many_arguments)]
    fn fields_scanned(
        &mut self,
        msg: &'t Msg,
        buf: &[u8],
        out: &mut Vec<u8>,
        depth: u32,
        first: &mut bool,
        base: usize,
        oneof_base: usize,
    ) -> R<bool> {
        {
            self.scan(msg, buf, depth)?;
            let occs = &mut self.occs[base..];
            if occs.windows(2).any(|w| w[0].field > w[1].field) {
                occs.sort_unstable_by_key(|o| (o.field, o.pos));
            }
            let mut i = base;
            let mut wrote = false;
            while i < self.occs.len() {
                let field = self.occs[i].field;
                let mut j = i + 1;
                while j < self.occs.len() && self.occs[j].field == field {
                    j += 1;
                }
                let f = &msg.fields[field as usize];
                // A oneof member counts only if it won, from the run that won.
                let mut from = i;
                if let Some(o) = f.oneof {
                    let st = self.oneofs[oneof_base + usize::from(o)];
                    if st.winner != field {
                        self.validate(f.ty, i, j, buf, depth)?;
                        i = j;
                        continue;
                    }
                    while from < j && self.occs[from].pos < st.since {
                        from += 1;
                    }
                    self.validate(f.ty, i, from, buf, depth)?;
                }
                if self.field_value(msg, field, from, j, buf, out, depth, first)? {
                    wrote = true;
                }
                i = j;
            }
            Ok(wrote)
        }
    }

    /// Writes the field `field` of `msg` from its occurrences `self.occs[from..to]`, if it
    /// is to be written.
    #[allow(clippy::too_many_arguments)]
    fn field_value(
        &mut self,
        msg: &Msg,
        field: u32,
        from: usize,
        to: usize,
        buf: &[u8],
        out: &mut Vec<u8>,
        depth: u32,
        first: &mut bool,
    ) -> R<bool> {
        let f = &msg.fields[field as usize];
        let key = |out: &mut Vec<u8>, first: &mut bool| {
            if !*first {
                out.push(b',');
            }
            *first = false;
            out.extend_from_slice(&f.key);
        };
        match f.shape {
            Shape::Single { presence } => {
                let last = self.occs[to - 1];
                if let Ty::Message(m2) = f.ty {
                    key(out, first);
                    if to - from == 1 {
                        self.message(m2, last.span(buf), out, depth + 1)?;
                    } else {
                        // Occurrences of a singular message merge: as one concatenation.
                        let mut merged = Vec::new();
                        for k in from..to {
                            merged.extend_from_slice(self.occs[k].span(buf));
                        }
                        self.message(m2, &merged, out, depth + 1)?;
                    }
                    return Ok(true);
                }
                self.validate(f.ty, from, to - 1, buf, depth)?;
                if !presence && self.is_default(f.ty, &last, buf)? {
                    return Ok(false);
                }
                key(out, first);
                self.scalar(f.ty, last.wire, last.val, last.span(buf), out)?;
                Ok(true)
            }
            Shape::Repeated => {
                let packed_numeric = f.ty.packable();
                if packed_numeric
                    && self.occs[from..to]
                        .iter()
                        .all(|o| o.wire == 2 && o.val == u64::from(o.end))
                {
                    // Only empty packed runs: an empty list, left out.
                    return Ok(false);
                }
                key(out, first);
                out.push(b'[');
                let mut n = 0usize;
                for k in from..to {
                    let o = self.occs[k];
                    if packed_numeric && o.wire == 2 {
                        let mut w = Wire::new(o.span(buf));
                        while !w.done() {
                            if n > 0 {
                                out.push(b',');
                            }
                            let (val, wire) = match f.ty.wire_type() {
                                0 => (w.varint()?, 0),
                                1 => (w.fixed64()?, 1),
                                _ => (u64::from(w.fixed32()?), 5),
                            };
                            self.scalar(f.ty, wire, val, &[], out)?;
                            n += 1;
                        }
                    } else {
                        if n > 0 {
                            out.push(b',');
                        }
                        match f.ty {
                            Ty::Message(m2) => self.message(m2, o.span(buf), out, depth + 1)?,
                            _ => self.scalar(f.ty, o.wire, o.val, o.span(buf), out)?,
                        }
                        n += 1;
                    }
                }
                out.push(b']');
                Ok(true)
            }
            Shape::Map { key: kt, value: vt } => {
                key(out, first);
                self.map(kt, vt, from, to, buf, out, depth)?;
                Ok(true)
            }
        }
    }

    /// Checks occurrences `self.occs[from..to]` that are not written (overwritten, or
    /// cleared by another oneof member) as a decoder would: strings must be UTF-8 and
    /// messages must decode.
    fn validate(&mut self, ty: Ty, from: usize, to: usize, buf: &[u8], depth: u32) -> R<()> {
        for k in from..to {
            let o = self.occs[k];
            match ty {
                Ty::String => {
                    utf8(o.span(buf))?;
                }
                Ty::Message(m) => {
                    let mut sink = Vec::new();
                    self.message(m, o.span(buf), &mut sink, depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a singular scalar value is its type's default (left out without presence).
    fn is_default(&self, ty: Ty, o: &Occ, buf: &[u8]) -> R<bool> {
        Ok(match ty {
            Ty::Int32 | Ty::Uint32 | Ty::Sint32 | Ty::Enum(_) => o.val as u32 == 0,
            Ty::Fixed32 | Ty::Sfixed32 => o.val == 0,
            Ty::Int64 | Ty::Uint64 | Ty::Sint64 | Ty::Fixed64 | Ty::Sfixed64 | Ty::Bool => {
                o.val == 0
            }
            Ty::Float => f32::from_bits(o.val as u32) == 0.0,
            Ty::Double => f64::from_bits(o.val) == 0.0,
            Ty::String => {
                let s = o.span(buf);
                if !s.is_empty() {
                    utf8(s)?;
                }
                s.is_empty()
            }
            Ty::Bytes => o.span(buf).is_empty(),
            Ty::Message(_) => false,
        })
    }

    /// Writes one scalar value (`span`: a string's or bytes' content).
    fn scalar(&self, ty: Ty, _wire: u8, val: u64, span: &[u8], out: &mut Vec<u8>) -> R<()> {
        match ty {
            Ty::Int64 | Ty::Sfixed64 => write::quoted_int(out, val as i64),
            Ty::Uint64 | Ty::Fixed64 => write::quoted_int(out, val),
            Ty::Sint64 => write::quoted_int(out, zigzag64(val)),
            Ty::Int32 | Ty::Sfixed32 => write::int(out, val as i32),
            Ty::Uint32 | Ty::Fixed32 => write::int(out, val as u32),
            Ty::Sint32 => write::int(out, zigzag32(val as u32)),
            Ty::Bool => out.extend_from_slice(if val != 0 { b"true" } else { b"false" }),
            Ty::Double => write::double(out, f64::from_bits(val)),
            Ty::Float => write::float(out, f32::from_bits(val as u32)),
            Ty::String => write::string(out, utf8(span)?),
            Ty::Bytes => write::base64(out, span),
            Ty::Enum(e) => {
                let e = self.enum_(e)?;
                let n = val as i32;
                if e.null {
                    out.extend_from_slice(b"null");
                } else if let Some(name) = e.name(n) {
                    write::string(out, name);
                } else {
                    write::int(out, n);
                }
            }
            Ty::Message(_) => return Err("a message is not a scalar".into()),
        }
        Ok(())
    }

    /// A scalar's default value, as written where one is required (wrappers, map values).
    fn default_scalar(&self, ty: Ty, out: &mut Vec<u8>) -> R<()> {
        match ty {
            Ty::String | Ty::Bytes => out.extend_from_slice(b"\"\""),
            _ => self.scalar(ty, ty.wire_type(), 0, &[], out)?,
        }
        Ok(())
    }

    /// Writes a map field from its entries `self.occs[from..to]`: an object keyed as
    /// protojson keys maps, entries sorted by key, the last of equal keys kept.
    #[allow(clippy::too_many_arguments)]
    fn map(
        &mut self,
        kt: Ty,
        vt: Ty,
        from: usize,
        to: usize,
        buf: &[u8],
        out: &mut Vec<u8>,
        depth: u32,
    ) -> R<()> {
        struct Entry<'b> {
            key: MapKey<'b>,
            order: usize,
            /// The value's occurrences: (wire, val, span).
            value: Option<(u8, u64, &'b [u8])>,
            /// For message values seen more than once: the merged bytes.
            merged: Option<Vec<u8>>,
        }
        let mut entries: Vec<Entry<'_>> = Vec::with_capacity(to - from);
        for k in from..to {
            let o = self.occs[k];
            let bytes = o.span(buf);
            let mut w = Wire::new(bytes);
            let mut key = MapKey::default_for(kt);
            let mut value: Option<(u8, u64, &[u8])> = None;
            let mut merged: Option<Vec<u8>> = None;
            while !w.done() {
                let (number, wire) = w.key()?;
                let ty = match number {
                    1 => kt,
                    2 => vt,
                    _ => {
                        w.skip(number, wire, depth)?;
                        continue;
                    }
                };
                if wire != ty.wire_type() {
                    return Err(format!("invalid wire type {wire} in a map entry").into());
                }
                let (val, span): (u64, &[u8]) = match wire {
                    0 => (w.varint()?, &[]),
                    1 => (w.fixed64()?, &[]),
                    5 => (u64::from(w.fixed32()?), &[]),
                    _ => {
                        let (s, e) = w.len_span()?;
                        (0, &bytes[s..e])
                    }
                };
                if ty == Ty::String {
                    utf8(span)?;
                }
                if number == 1 {
                    key = MapKey::of(kt, val, span)?;
                } else if let (Ty::Message(_), Some((_, _, prev))) = (vt, value) {
                    let m = merged.get_or_insert_with(|| prev.to_vec());
                    m.extend_from_slice(span);
                    value = Some((wire, val, span));
                } else {
                    merged = None;
                    value = Some((wire, val, span));
                }
            }
            entries.push(Entry {
                key,
                order: k,
                value,
                merged,
            });
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key).then(a.order.cmp(&b.order)));
        out.push(b'{');
        let mut n = 0usize;
        for (i, e) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|next| next.key == e.key) {
                continue; // the last of equal keys wins
            }
            if n > 0 {
                out.push(b',');
            }
            n += 1;
            e.key.write(out);
            out.push(b':');
            match (vt, &e.value, &e.merged) {
                (Ty::Message(m2), _, Some(merged)) => self.message(m2, merged, out, depth + 1)?,
                (Ty::Message(m2), Some((_, _, span)), None) => {
                    self.message(m2, span, out, depth + 1)?;
                }
                (Ty::Message(m2), None, None) => self.message(m2, &[], out, depth + 1)?,
                (_, Some((wire, val, span)), _) => self.scalar(vt, *wire, *val, span, out)?,
                (_, None, _) => self.default_scalar(vt, out)?,
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// The well-known types' own forms.
    fn wkt(&mut self, w: Wkt, m: u32, buf: &[u8], out: &mut Vec<u8>, depth: u32) -> R<()> {
        match w {
            Wkt::Any => self.any(buf, out, depth),
            Wkt::Timestamp => {
                let t = prost_types::Timestamp::decode(buf).map_err(decode_err)?;
                if !(-62_135_596_800..=253_402_300_799).contains(&t.seconds) {
                    return Err("timestamp out of range".into());
                }
                out.push(b'"');
                push_display(out, &t);
                out.push(b'"');
                Ok(())
            }
            Wkt::Duration => {
                let d = prost_types::Duration::decode(buf).map_err(decode_err)?;
                if d.seconds.unsigned_abs() > 315_576_000_000
                    || d.nanos.unsigned_abs() > 999_999_999
                {
                    return Err("duration out of range".into());
                }
                out.push(b'"');
                push_display(out, &d);
                out.push(b'"');
                Ok(())
            }
            Wkt::Struct => {
                let s = prost_types::Struct::decode(buf).map_err(decode_err)?;
                struct_(&s, out)
            }
            Wkt::Value => {
                let v = prost_types::Value::decode(buf).map_err(decode_err)?;
                value(&v, out)
            }
            Wkt::ListValue => {
                let l = prost_types::ListValue::decode(buf).map_err(decode_err)?;
                list(&l, out)
            }
            Wkt::FieldMask => {
                let mask = prost_types::FieldMask::decode(buf).map_err(decode_err)?;
                let mut s = String::new();
                for (i, path) in mask.paths.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    for (j, part) in path.split('.').enumerate() {
                        if j > 0 {
                            s.push('.');
                        }
                        camel_case(&mut s, part)?;
                    }
                }
                write::string(out, &s);
                Ok(())
            }
            Wkt::Empty => {
                let mut w = Wire::new(buf);
                while !w.done() {
                    let (n, wire) = w.key()?;
                    w.skip(n, wire, depth)?;
                }
                out.extend_from_slice(b"{}");
                Ok(())
            }
            Wkt::Wrapper => {
                let msg = self.msg(m)?;
                let base = self.occs.len();
                let oneof_base = self.oneofs.len();
                let r = self.wrapper(msg, buf, out, depth, base);
                self.occs.truncate(base);
                self.oneofs.truncate(oneof_base);
                r
            }
        }
    }

    /// A wrapper's value (the last of field 1, else the default), its occurrences scanned
    /// from `base`.
    fn wrapper(
        &mut self,
        msg: &'t Msg,
        buf: &[u8],
        out: &mut Vec<u8>,
        depth: u32,
        base: usize,
    ) -> R<()> {
        self.scan(msg, buf, depth)?;
        let ty = msg.fields.first().map_or(Ty::Int32, |f| f.ty);
        let n = self.occs.len();
        if n > base + 1 {
            self.validate(ty, base, n - 1, buf, depth)?;
        }
        match self.occs[base..].last().copied() {
            Some(o) => self.scalar(ty, o.wire, o.val, o.span(buf), out),
            None => self.default_scalar(ty, out),
        }
    }

    /// `google.protobuf.Any`: `{"@type": url, fields…}`, or `{"@type": url, "value": …}`
    /// for a well-known type; the type is resolved from the tables.
    fn any(&mut self, buf: &[u8], out: &mut Vec<u8>, depth: u32) -> R<()> {
        let mut url: &[u8] = &[];
        let mut payload: &[u8] = &[];
        let mut w = Wire::new(buf);
        while !w.done() {
            let (n, wire) = w.key()?;
            match (n, wire) {
                (1 | 2, 2) => {
                    let (s, e) = w.len_span()?;
                    if n == 1 {
                        url = &buf[s..e];
                        utf8(url)?;
                    } else {
                        payload = &buf[s..e];
                    }
                }
                (1 | 2, _) => return Err("invalid wire type in google.protobuf.Any".into()),
                _ => w.skip(n, wire, depth)?,
            }
        }
        let url = utf8(url)?;
        if url.is_empty() && payload.is_empty() {
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        let (_, name) = url.rsplit_once('/').ok_or_else(|| {
            Bad::from(format!(
                "unsupported type url '{url}': missing at least one '/'"
            ))
        })?;
        let m2 = self
            .t
            .message_index(name)
            .ok_or_else(|| Bad::from(format!("google.protobuf.Any of unknown type '{name}'")))?;
        let msg2 = self.msg(m2)?;
        out.extend_from_slice(b"{\"@type\":");
        write::string(out, url);
        if msg2.wkt.is_some() {
            out.extend_from_slice(b",\"value\":");
            self.message(m2, payload, out, depth + 1)?;
        } else if msg2.fallback {
            let mut obj = Vec::new();
            fallback(&msg2.full_name, payload, &mut obj)?;
            // `{…}`: its members after `@type`.
            if obj.len() > 2 {
                out.push(b',');
                out.extend_from_slice(&obj[1..obj.len() - 1]);
            }
        } else {
            self.fields(m2, payload, out, depth + 1, false)?;
        }
        out.push(b'}');
        Ok(())
    }
}

fn decode_err(e: prost::DecodeError) -> Bad {
    format!("error decoding: {e}").into()
}

fn utf8(s: &[u8]) -> R<&str> {
    std::str::from_utf8(s).map_err(|_| Bad::from("invalid string value: data is not UTF-8 encoded"))
}

fn zigzag32(n: u32) -> i32 {
    ((n >> 1) as i32) ^ (-((n & 1) as i32))
}

fn zigzag64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ (-((n & 1) as i64))
}

fn push_display(out: &mut Vec<u8>, v: &impl std::fmt::Display) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{v}");
}

/// prost-reflect's snake_case → camelCase for field mask paths (refusing what would not
/// round-trip).
fn camel_case(dst: &mut String, src: &str) -> R<()> {
    let mut upper_next = false;
    for ch in src.chars() {
        if ch.is_ascii_uppercase() {
            return Err("cannot roundtrip field name through camelcase".into());
        }
        if upper_next {
            let up = ch.to_ascii_uppercase();
            if up == ch {
                return Err("cannot roundtrip field name through camelcase".into());
            }
            dst.push(up);
            upper_next = false;
        } else if ch == '_' {
            upper_next = true;
        } else {
            dst.push(ch);
        }
    }
    Ok(())
}

fn struct_(s: &prost_types::Struct, out: &mut Vec<u8>) -> R<()> {
    out.push(b'{');
    for (i, (k, v)) in s.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write::string(out, k);
        out.push(b':');
        value(v, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn list(l: &prost_types::ListValue, out: &mut Vec<u8>) -> R<()> {
    out.push(b'[');
    for (i, v) in l.values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        value(v, out)?;
    }
    out.push(b']');
    Ok(())
}

fn value(v: &prost_types::Value, out: &mut Vec<u8>) -> R<()> {
    use prost_types::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => out.extend_from_slice(b"null"),
        Some(Kind::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(Kind::NumberValue(n)) => {
            if !n.is_finite() {
                return Err("cannot serialize non-finite double in google.protobuf.Value".into());
            }
            write::double(out, *n);
        }
        Some(Kind::StringValue(s)) => write::string(out, s),
        Some(Kind::ListValue(l)) => list(l, out)?,
        Some(Kind::StructValue(s)) => struct_(s, out)?,
    }
    Ok(())
}

/// A map key, ordered as Go orders map keys (numbers numerically, strings by bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum MapKey<'b> {
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    Str(&'b str),
}

impl<'b> MapKey<'b> {
    fn default_for(ty: Ty) -> Self {
        match ty {
            Ty::Bool => MapKey::Bool(false),
            Ty::Uint32 | Ty::Uint64 | Ty::Fixed32 | Ty::Fixed64 => MapKey::Unsigned(0),
            Ty::String => MapKey::Str(""),
            _ => MapKey::Signed(0),
        }
    }

    fn of(ty: Ty, val: u64, span: &'b [u8]) -> R<Self> {
        Ok(match ty {
            Ty::Bool => MapKey::Bool(val != 0),
            Ty::Int32 | Ty::Sfixed32 => MapKey::Signed(i64::from(val as i32)),
            Ty::Sint32 => MapKey::Signed(i64::from(zigzag32(val as u32))),
            Ty::Int64 | Ty::Sfixed64 => MapKey::Signed(val as i64),
            Ty::Sint64 => MapKey::Signed(zigzag64(val)),
            Ty::Uint32 | Ty::Fixed32 => MapKey::Unsigned(u64::from(val as u32)),
            Ty::Uint64 | Ty::Fixed64 => MapKey::Unsigned(val),
            Ty::String => MapKey::Str(utf8(span)?),
            _ => return Err("invalid map key type".into()),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            MapKey::Bool(b) => out.extend_from_slice(if *b { b"\"true\"" } else { b"\"false\"" }),
            MapKey::Signed(n) => write::quoted_int(out, *n),
            MapKey::Unsigned(n) => write::quoted_int(out, *n),
            MapKey::Str(s) => write::string(out, s),
        }
    }
}

/// A message the tables do not handle (groups, extensions): through prost-reflect.
fn fallback(full_name: &str, buf: &[u8], out: &mut Vec<u8>) -> R<()> {
    let v = super::reflect_json(full_name, buf).map_err(|e| Bad::from(e.to_string()))?;
    serde_json::to_writer(out, &v).map_err(|e| Bad::from(e.to_string()))
}
