//! Generated protobuf types (prost) and gRPC services (tonic) for the `c1.*` packages in
//! `proto/`. Package `c1.connector.v2` is [`c1::connector::v2`], and so on.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// `c1.*` protobuf packages.
pub mod c1 {
    /// `c1.connector.*`
    pub mod connector {
        /// `c1.connector.v2`: resource types, resources, entitlements, grants, annotations.
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/c1.connector.v2.rs"));
        }
    }
    /// `c1.reader.*`
    pub mod reader {
        /// `c1.reader.v2`: the reader services.
        pub mod v2 {
            include!(concat!(env!("OUT_DIR"), "/c1.reader.v2.rs"));
        }
    }
    /// `c1.c1z.*`
    pub mod c1z {
        /// `c1.c1z.v1`: sync details annotation and diff output.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/c1.c1z.v1.rs"));
        }
        /// `c1.c1z.v3`: the v3 envelope manifest.
        pub mod v3 {
            include!(concat!(env!("OUT_DIR"), "/c1.c1z.v3.rs"));
        }
    }
    /// `c1.storage.*`
    pub mod storage {
        /// `c1.storage.v3`: record messages of the v3 keyspace.
        pub mod v3 {
            include!(concat!(env!("OUT_DIR"), "/c1.storage.v3.rs"));
        }
    }
}

/// The encoded `FileDescriptorSet` of every file in `proto/` (and its imports).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/c1z_descriptor.bin"));
