//! automl's Node.js binding (napi-rs). Its own issue fills in the addon; until then the crate
//! builds and reports the shared version.

/// The version the npm package carries: the workspace version, shared with the crate and wheel.
pub fn version() -> &'static str {
    automl_core::VERSION
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_workspace_version() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
