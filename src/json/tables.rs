//! The tables the transcoder runs on, built once from the descriptor pool: per message, its
//! fields in declaration order (JSON name, kind, repeated/map, oneof) and a number → field
//! index; per enum, its value names.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

/// A field's value kind; messages and enums by their index in [`Tables`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Bytes,
    Uint32,
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
    Enum(u32),
    Message(u32),
}

impl Ty {
    /// The wire type a single value of this kind is encoded with.
    pub(super) fn wire_type(self) -> u8 {
        match self {
            Ty::Int64
            | Ty::Uint64
            | Ty::Int32
            | Ty::Bool
            | Ty::Uint32
            | Ty::Sint32
            | Ty::Sint64
            | Ty::Enum(_) => 0,
            Ty::Double | Ty::Fixed64 | Ty::Sfixed64 => 1,
            Ty::String | Ty::Bytes | Ty::Message(_) => 2,
            Ty::Float | Ty::Fixed32 | Ty::Sfixed32 => 5,
        }
    }

    /// Whether a repeated field of this kind may be packed.
    pub(super) fn packable(self) -> bool {
        !matches!(self, Ty::String | Ty::Bytes | Ty::Message(_))
    }
}

/// How many values a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// One value; `presence`: written even when default (messages, `optional`, oneofs).
    Single { presence: bool },
    /// A list.
    Repeated,
    /// A map: entries of key (field 1) and value (field 2).
    Map { key: Ty, value: Ty },
}

/// One field of a message.
#[derive(Debug)]
pub(super) struct Field {
    /// `"jsonName":`, ready to copy.
    pub(super) key: Box<[u8]>,
    pub(super) ty: Ty,
    pub(super) shape: Shape,
    /// Index of the field's oneof (real or synthetic) within the message.
    pub(super) oneof: Option<u16>,
}

/// The well-known types with a JSON form of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wkt {
    Any,
    Timestamp,
    Duration,
    Struct,
    Value,
    ListValue,
    FieldMask,
    Empty,
    /// `google.protobuf.*Value` wrappers: the JSON of field 1.
    Wrapper,
}

fn wkt(full_name: &str) -> Option<Wkt> {
    Some(match full_name {
        "google.protobuf.Any" => Wkt::Any,
        "google.protobuf.Timestamp" => Wkt::Timestamp,
        "google.protobuf.Duration" => Wkt::Duration,
        "google.protobuf.Struct" => Wkt::Struct,
        "google.protobuf.Value" => Wkt::Value,
        "google.protobuf.ListValue" => Wkt::ListValue,
        "google.protobuf.FieldMask" => Wkt::FieldMask,
        "google.protobuf.Empty" => Wkt::Empty,
        "google.protobuf.FloatValue"
        | "google.protobuf.DoubleValue"
        | "google.protobuf.Int32Value"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => Wkt::Wrapper,
        _ => return None,
    })
}

/// Field numbers below this are found by direct index.
const DENSE: u32 = 64;

/// One message type.
#[derive(Debug)]
pub(super) struct Msg {
    pub(super) full_name: Box<str>,
    pub(super) wkt: Option<Wkt>,
    /// In declaration order (Go's protojson writes fields in that order).
    pub(super) fields: Vec<Field>,
    /// Field number → 1 + index into `fields` (0: none), for numbers below [`DENSE`].
    dense: Vec<u16>,
    /// The other field numbers.
    sparse: HashMap<u32, u16>,
    /// Number of oneofs (real and synthetic).
    pub(super) oneofs: usize,
    /// Groups or extensions: rendered through prost-reflect instead.
    pub(super) fallback: bool,
}

impl Msg {
    /// The index of the field numbered `number`.
    #[inline]
    pub(super) fn field(&self, number: u32) -> Option<usize> {
        if number < DENSE {
            match self.dense.get(number as usize) {
                Some(&i) if i > 0 => Some(usize::from(i - 1)),
                _ => None,
            }
        } else {
            self.sparse.get(&number).map(|&i| usize::from(i))
        }
    }
}

/// One enum type: value names by number (as prost-reflect names them).
#[derive(Debug)]
pub(super) struct Enum {
    /// Sorted by number.
    values: Vec<(i32, Box<str>)>,
    /// `google.protobuf.NullValue`: written as `null`.
    pub(super) null: bool,
}

impl Enum {
    pub(super) fn name(&self, number: i32) -> Option<&str> {
        self.values
            .binary_search_by_key(&number, |(n, _)| *n)
            .ok()
            .map(|i| &*self.values[i].1)
    }
}

/// Every message and enum of a pool.
#[derive(Debug)]
pub(super) struct Tables {
    pub(super) messages: Vec<Msg>,
    pub(super) enums: Vec<Enum>,
    by_name: HashMap<Box<str>, u32>,
}

impl Tables {
    pub(super) fn message_index(&self, full_name: &str) -> Option<u32> {
        self.by_name.get(full_name).copied()
    }

    pub(super) fn build(pool: &DescriptorPool) -> Tables {
        let mut by_name = HashMap::new();
        let messages: Vec<MessageDescriptor> = pool.all_messages().collect();
        for (i, m) in messages.iter().enumerate() {
            by_name.insert(Box::from(m.full_name()), index_u32(i));
        }
        let mut enum_index = HashMap::new();
        let mut enums = Vec::new();
        for (i, e) in pool.all_enums().enumerate() {
            enum_index.insert(e.full_name().to_owned(), index_u32(i));
            let mut values: Vec<(i32, Box<str>)> = Vec::new();
            for v in e.values() {
                let n = v.number();
                if values.iter().all(|(m, _)| *m != n)
                    && let Some(named) = e.get_value(n)
                {
                    values.push((n, Box::from(named.name())));
                }
            }
            values.sort_by_key(|(n, _)| *n);
            enums.push(Enum {
                values,
                null: e.full_name() == "google.protobuf.NullValue",
            });
        }
        let ty = |kind: &Kind| -> Ty {
            match kind {
                Kind::Double => Ty::Double,
                Kind::Float => Ty::Float,
                Kind::Int64 => Ty::Int64,
                Kind::Uint64 => Ty::Uint64,
                Kind::Int32 => Ty::Int32,
                Kind::Fixed64 => Ty::Fixed64,
                Kind::Fixed32 => Ty::Fixed32,
                Kind::Bool => Ty::Bool,
                Kind::String => Ty::String,
                Kind::Bytes => Ty::Bytes,
                Kind::Uint32 => Ty::Uint32,
                Kind::Sfixed32 => Ty::Sfixed32,
                Kind::Sfixed64 => Ty::Sfixed64,
                Kind::Sint32 => Ty::Sint32,
                Kind::Sint64 => Ty::Sint64,
                Kind::Enum(e) => Ty::Enum(enum_index.get(e.full_name()).copied().unwrap_or(0)),
                Kind::Message(m) => Ty::Message(by_name.get(m.full_name()).copied().unwrap_or(0)),
            }
        };
        let messages = messages
            .iter()
            .map(|m| {
                let oneof_names: Vec<String> =
                    m.oneofs().map(|o| o.full_name().to_owned()).collect();
                let mut fallback = m.extensions().next().is_some();
                let mut fields = Vec::new();
                let mut dense = vec![0u16; DENSE as usize];
                let mut sparse = HashMap::new();
                // Declaration order: the order of the descriptor's own field list.
                let numbers: Vec<u32> = m
                    .descriptor_proto()
                    .field
                    .iter()
                    .filter_map(|f| f.number.and_then(|n| u32::try_from(n).ok()))
                    .collect();
                for number in numbers {
                    let Some(f) = m.get_field(number) else {
                        continue;
                    };
                    if f.is_group() {
                        fallback = true;
                    }
                    let i = u16::try_from(fields.len()).unwrap_or(u16::MAX);
                    if number < DENSE {
                        dense[number as usize] = i + 1;
                    } else {
                        sparse.insert(number, i);
                    }
                    fields.push(field(&f, &oneof_names, &ty));
                }
                if fields.len() >= usize::from(u16::MAX) {
                    fallback = true;
                }
                Msg {
                    full_name: Box::from(m.full_name()),
                    wkt: wkt(m.full_name()),
                    fields,
                    dense,
                    sparse,
                    oneofs: oneof_names.len(),
                    fallback,
                }
            })
            .collect();
        Tables {
            messages,
            enums,
            by_name,
        }
    }
}

fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn field(f: &FieldDescriptor, oneofs: &[String], ty: &impl Fn(&Kind) -> Ty) -> Field {
    let mut key = Vec::with_capacity(f.json_name().len() + 3);
    super::write::string(&mut key, f.json_name());
    key.push(b':');
    let shape = if f.is_map() {
        match f.kind() {
            Kind::Message(entry) => Shape::Map {
                key: ty(&entry.map_entry_key_field().kind()),
                value: ty(&entry.map_entry_value_field().kind()),
            },
            _ => Shape::Repeated,
        }
    } else if f.is_list() {
        Shape::Repeated
    } else {
        Shape::Single {
            presence: f.supports_presence(),
        }
    };
    let oneof = f.containing_oneof().and_then(|o| {
        oneofs
            .iter()
            .position(|n| n == o.full_name())
            .and_then(|i| u16::try_from(i).ok())
    });
    Field {
        key: key.into_boxed_slice(),
        ty: ty(&f.kind()),
        shape,
        oneof,
    }
}
