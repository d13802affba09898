//! automl's Python binding (pyo3 + maturin). Its own issue fills in the `automl` module; until
//! then the crate builds and reports the shared version.

/// The version the wheel carries: the workspace version, shared with the crate and npm package.
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
