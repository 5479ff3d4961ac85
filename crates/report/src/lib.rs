//! Rendering of chainwalk traces: [`text`] for people, one line per step, and [`json`], the
//! stable `chainwalk/trace/v1` contract described in this crate's README. Pure functions from
//! a [`Trace`](chainwalk_netfilter::trace::Trace) to a `String`.

pub mod json;
pub mod text;

pub use json::{SCHEMA, trace_to_json, trace_to_value};
pub use text::trace_to_text;
