//! One integration-test binary (release builds use fat LTO, so each extra binary costs a link).

mod common;
mod layout;
mod loading;
mod normalization;
mod single;
mod truncation;
mod windows;
