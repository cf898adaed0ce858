//! c1z
pub mod pb;
