//! chainwalk core
