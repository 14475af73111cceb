//! The protobuf messages and the tonic service and client generated from `proto/bench.proto` by
//! `build.rs`.
#![allow(missing_docs)]

tonic::include_proto!("bench");
